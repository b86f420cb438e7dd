"""The sources as external assets: the SIS tables and the landing zone's files, upstream of bronze.

eduwh does not build them; they are in the graph so that lineage starts where
the data does, and each bronze asset names the source it loads.
"""

from dagster import AssetKey, AssetSpec

from eduwh_assets.sources.landing import SOURCE_FILE_PATTERNS

SOURCES_GROUP = "sources"

# SIS table (PostgreSQL schema `sis`) -> its key (SPEC §3.1). Every table's cursor is `updated_at`.
SIS_SCHEMA = "sis"
SIS_TABLES: dict[str, str] = {
    "programmes": "programme_code",
    "classes": "class_id",
    "students": "student_id",
}
SIS_CURSOR = "updated_at"


def sis_source_key(table: str) -> AssetKey:
    return AssetKey(["sis", table])


def landing_source_key(source: str) -> AssetKey:
    return AssetKey(["landing", source])


source_specs = [
    *(
        AssetSpec(
            sis_source_key(table),
            group_name=SOURCES_GROUP,
            kinds={"postgres"},
            description=f"The SIS table {SIS_SCHEMA}.{table} in PostgreSQL (EDUWH_SIS_URL, or the embedded server).",
        )
        for table in SIS_TABLES
    ),
    *(
        AssetSpec(
            landing_source_key(source),
            group_name=SOURCES_GROUP,
            kinds={"csv" if source == "attendance" else "json"},
            description=(
                f"The {' and '.join(patterns)} files of each complete delivery in the landing zone "
                "(EDUWH_LANDING: a folder or an Azure Blob container), as listed by its _manifest.json."
            ),
        )
        for source, patterns in SOURCE_FILE_PATTERNS.items()
    ),
]
