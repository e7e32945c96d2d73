"""The price store: QuestDB connection settings, client, schema and the local server."""
