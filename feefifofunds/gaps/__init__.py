"""Gaps in Kraken candle series: detection (in QuestDB's SQL) and trailing gaps, classification against the
OHLC endpoint's 720-candle window, the confirmed-empty memory, the plan (OHLC or trades, within a budget),
filling from the OHLC endpoint (``backfill``) and from the trade history (``trades_fill``), the run that ties
them (``run``) and gap counts for readers (``summary``). What ``backfill_kraken_gaps`` prints is
``feefifofunds.cli.gaps``."""
