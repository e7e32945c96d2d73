"""Gaps in Kraken candle series: detection (in QuestDB's SQL), classification against the REST API's
720-candle window, the confirmed-empty memory, backfilling through the Kraken REST API
(OHLC and trades). What ``backfill_kraken_gaps`` prints is ``feefifofunds.cli.gaps``."""
