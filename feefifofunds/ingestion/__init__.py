"""Getting candles into QuestDB: validation, the one writer, and the bulk archive job."""
