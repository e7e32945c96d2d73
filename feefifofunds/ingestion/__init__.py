"""Getting candles into QuestDB: the one writer (ILP or Parquet commits), the API loaders, and the bulk archive job."""
