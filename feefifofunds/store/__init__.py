"""The price store: QuestDB connection settings, client, schema, series reads, Parquet imports, locks and the local server."""
