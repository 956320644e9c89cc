"""A LanceDB table as an embeddings source: ``lancedb:PATH#TABLE``.

The table's latest version (when it is opened) is read one column at a time, in pages of 8,192
rows, each its own query (``search().select([column]).offset(start).limit(8192)``): one scan
with ``to_batches`` lets lance read ahead into its I/O buffer (~780 MB at the peak for 1,000,000
x 384 float32), while pages keep the peak near one page (benchmarks, target 13), and are faster. Its
schema is Arrow's, so the vector and scalar columns are found and decoded as for Parquet
(:mod:`analysis.vectors.arrow_files`). Nothing here writes: the connection only opens the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from analysis.errors import CorpusError
from analysis.vectors.arrow_files import ArrowTableReader, arrow_errors, arrow_layout
from analysis.vectors.layout import DEFAULT_CHUNK_ROWS, reading
from analysis.vectors.stores.spec import StoreSpec, import_store_library, names_line


def table_names(db: Any) -> list[str]:
    """Every table of a LanceDB connection (the listing is paged)."""
    names: list[str] = []
    token = None
    while True:
        page = db.list_tables(page_token=token)
        names.extend(str(n) for n in page.tables)
        token = page.page_token
        if not token:
            return names


class LanceReader(ArrowTableReader):
    """One LanceDB table, read a batch at a time."""

    def __init__(self, spec: StoreSpec, vector_column: str | None) -> None:
        lancedb = import_store_library("lancedb", "lancedb")
        self.name = f"lancedb:{spec.display}"
        with reading(self.name, "is not a readable LanceDB table", arrow_errors()):
            db = lancedb.connect(str(spec.path))
            names = table_names(db)
            if spec.name not in names:
                raise CorpusError(
                    f"lancedb: {spec.path.name or spec.path} has no table {spec.name!r}; {names_line(names, 'table')}."
                )
            self.table = db.open_table(spec.name)
            schema = self.table.schema
            n_rows = int(self.table.count_rows())
        self.layout = arrow_layout(self.name, "lancedb", schema, n_rows, vector_column)

    def _arrays(self, column: str) -> Iterator[Any]:
        for start in range(0, self.layout.n_rows, DEFAULT_CHUNK_ROWS):
            with reading(self.name, "could not be read to the end", arrow_errors()):
                page = self.table.search().select([column]).offset(start).limit(DEFAULT_CHUNK_ROWS).to_arrow()
            if page.num_rows == 0:  # the table is pinned to the version opened: fewer rows is damage
                raise CorpusError(f"{self.name}: read {start:,} of {self.layout.n_rows:,} rows, then no more.")
            yield page.column(0)
