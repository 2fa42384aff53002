"""Operations: the health report and the metrics of an instance."""
