"""A LanceDB table as an embeddings source: ``lancedb:PATH#TABLE``.

The table's latest version is scanned a record batch at a time (``search().select(...)
.to_batches``), one column per scan, so memory stays at a batch whatever the table's size. Its
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
        with reading(self.name, "could not be read to the end", arrow_errors()):
            batches = self.table.search().select([column]).limit(None).to_batches(DEFAULT_CHUNK_ROWS)
            for batch in batches:
                yield batch.column(0)
