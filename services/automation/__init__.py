"""Process managers: they read the views and act through the application on their own
(the SLA watcher, group impact, the retention purge)."""
