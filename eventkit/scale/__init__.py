"""Scale-out: the Parquet dataset export and the same dataset in Apache Spark."""
