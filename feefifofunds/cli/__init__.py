"""What the management commands print and ask: one room for the terminal side of every command.

- ``console``: the console (plain text off a terminal, quiet at ``--verbosity 0``), the ``--yes`` prompt,
  the store lock taken at command level.
- ``archive``: the archive job (``ingest_sequential``): discovery table, live progress, summary.
- ``api``: the API loaders (``load_prices``, ``backfill_prices``): progress, preview, summary.
- ``gaps``: the gap backfill (``backfill_kraken_gaps``): report, plan, results, the unfillable-gaps CSV.
- ``coverage``: what the store holds (``price_summary``).
- ``version``: the QuestDB version check (``check_questdb_version``).

The domain packages (store, sources, ingestion, gaps) return data and send events; they never import this
package, so everything drawn here can change without touching them.
"""
