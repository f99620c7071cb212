"""Parallel Parquet uploads and reads of a batch on the real S3 server (SeaweedFS)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from resources.s3 import ParquetObject, S3Resource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _objects(n: int) -> list[ParquetObject]:
    return [
        ParquetObject(f"par/k={i}/part.parquet", pa.table({"x": list(range(i + 1))}), {"n": str(i)})
        for i in range(n)
    ]


def test_many_objects_are_written_in_order_with_metadata(s3_store: S3Resource) -> None:
    objects = _objects(12)
    infos = s3_store.model_copy(update={"upload_threads": 4}).write_parquet_many(objects)
    assert [i.key for i in infos] == [o.key for o in objects]
    for i, obj in enumerate(objects):
        table = s3_store.read_parquet(obj.key)
        assert table.column("x").to_pylist() == list(range(i + 1))
        assert table.schema.metadata[b"n"] == str(i).encode()
    sizes = {o.key: o.size for o in s3_store.list_objects("par/")}
    assert sizes == {i.key: i.size for i in infos}


def test_one_failing_object_raises_after_the_others_are_written(s3_store: S3Resource) -> None:
    objects = _objects(5)
    bad = ParquetObject("par/../escape.parquet", pa.table({"x": [1]}))
    with pytest.raises(ValueError, match="may not contain"):
        s3_store.write_parquet_many([*objects[:2], bad, *objects[2:]])
    assert {o.key for o in s3_store.list_objects("par/")} == {o.key for o in objects}


def test_listing_many_prefixes_in_parallel_finds_exactly_their_objects(
    s3_store: S3Resource,
) -> None:
    objects = _objects(9)
    s3_store.write_parquet_many(objects)
    prefixes = [f"par/k={i}/" for i in (0, 3, 4, 8)] + ["par/k=99/"]  # the last holds nothing
    for threads in (1, 4):
        listed = s3_store.model_copy(update={"upload_threads": threads}).list_many(prefixes)
        assert sorted(o.key for o in listed) == sorted(
            f"par/k={i}/part.parquet" for i in (0, 3, 4, 8)
        )


def test_reads_during_concurrent_rewrites_see_one_whole_version(s3_store: S3Resource) -> None:
    """Overlapping runs rewrite a partition's object while another run reads it: every read
    returns one of the versions, never a mix (which a HEAD + ranged GETs reader can get)."""
    import threading

    versions = [pa.table({"x": list(range(n))}) for n in (10, 20_000)]
    key, other = "race/k=1/part.parquet", "race/k=2/part.parquet"
    s3_store.write_parquet(key, versions[0])
    s3_store.write_parquet(other, versions[0])
    stop = threading.Event()

    def rewrite() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            s3_store.write_parquet(key, versions[i % 2])

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        rows = {s3_store.read_many([key, other]).num_rows - 10 for _ in range(60)}
    finally:
        stop.set()
        writer.join()
    assert rows <= {10, 20_000}
