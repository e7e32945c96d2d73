"""The price store: QuestDB settings, client, schema, series reads, Parquet imports, locks, the local server."""
