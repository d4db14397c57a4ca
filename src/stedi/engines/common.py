"""What every engine shares: the shape of a rule's inputs."""

# table name -> (Parquet data files, [(column, DuckDB type)])
Inputs = dict[str, tuple[list[str], list[tuple[str, str]]]]
