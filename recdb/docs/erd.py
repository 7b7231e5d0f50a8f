"""The entity-relationship diagram of the marts, generated from the dbt project itself.

Nothing here is drawn by hand, so the picture cannot drift from the models:

* the tables are the mart models (``models/marts/**`` built as tables), with
  the columns and types of their contracts;
* primary keys come from the contracts' ``primary_key`` constraints (column
  or model level);
* relationships come from the ``relationships`` data tests and from the
  contracts' ``foreign_key`` constraints. A relationship PostgreSQL enforces
  (a foreign key) is drawn solid; one only tested by dbt is drawn dashed
  (fact_sessions, for instance, keeps no foreign keys: dbt rebuilds the
  dimensions it references).

The manifest comes from ``dbt parse``, which needs no database. Graphviz
(``dot``) lays out and draws the picture. ``docs/erd.dot`` is the generated
source, kept beside ``docs/erd.svg`` so that reviews see the change as text;
the SVG records the SHA-256 of the source it was drawn from, so a test can
tell a stale picture whatever Graphviz version drew it.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recdb.core.errors import RecdbError
from recdb.core.settings import project_dir
from recdb.warehouse.transform import environment

logger = logging.getLogger(__name__)

#: Where the generated diagram lives, relative to the project (an asset path of dbt docs).
ERD_DIR = Path("docs")
ERD_SVG = ERD_DIR / "erd.svg"
ERD_DOT = ERD_DIR / "erd.dot"
#: The mart folders, in the order their clusters are drawn.
MART_AREAS = ("catalog", "engagement", "recommendations")
#: Materialisations that leave a table in the database (ephemeral and views are left out).
TABLE_MATERIALIZATIONS = frozenset(("table", "incremental"))
#: The comment that records which source an SVG was drawn from.
STAMP_PREFIX = "recdb-erd-source-sha256:"
_REF = re.compile(r"""ref\(\s*['"](?P<name>[^'"]+)['"]\s*\)""")
_STAMP = re.compile(r"<!-- " + re.escape(STAMP_PREFIX) + r" (?P<digest>[0-9a-f]{64}) -->")


class ErdError(RecdbError):
    """The diagram could not be generated (dbt could not parse, or Graphviz is missing)."""


@dataclass(frozen=True)
class Column:
    """One contracted column of a mart."""

    name: str
    data_type: str
    is_primary_key: bool = False
    is_foreign_key: bool = False
    is_not_null: bool = False


@dataclass(frozen=True)
class Table:
    """One mart model: its business area and its columns in contract order."""

    name: str
    area: str
    columns: tuple[Column, ...]
    materialized: str


@dataclass(frozen=True)
class Relationship:
    """``child.child_column`` references ``parent.parent_column``."""

    child: str
    child_column: str
    parent: str
    parent_column: str
    #: PostgreSQL holds it (a foreign-key constraint of the contract).
    enforced: bool
    #: A dbt ``relationships`` test checks it.
    tested: bool


@dataclass
class MartSchema:
    """The marts and the relationships between them, as the project declares them."""

    tables: dict[str, Table] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)


# -- reading the manifest --------------------------------------------------------
def _area(node: dict) -> str | None:
    """The mart area of a model (``catalog``...), or None when it is not a mart."""
    fqn = node.get("fqn", [])
    if len(fqn) >= 3 and fqn[1] == "marts":
        return fqn[2]
    return None


def _ref_name(expression: str | None) -> str | None:
    """The model a constraint or test points at: ``ref('dim_titles')`` → ``dim_titles``.

    A compiled manifest (after ``dbt docs generate``) holds the rendered
    relation instead, ``"recdb"."marts"."dim_titles"``: its last part is the name.
    """
    if not expression:
        return None
    match = _REF.fullmatch(expression.strip())
    if match:
        return match.group("name")
    if "(" in expression:  # source(...) or another macro: not a mart
        return None
    return expression.strip().split(".")[-1].strip('"') or None


def _primary_key(node: dict) -> set[str]:
    keys = {
        name
        for name, column in node["columns"].items()
        if any(c["type"] == "primary_key" for c in column.get("constraints", []))
    }
    for constraint in node.get("constraints", []):
        if constraint["type"] == "primary_key":
            keys.update(constraint.get("columns", []))
    return keys


def _foreign_keys(node: dict) -> Iterator[tuple[str, str | None, str]]:
    """(column, referenced model, referenced column) of a model's foreign-key constraints."""
    for name, column in node["columns"].items():
        for constraint in column.get("constraints", []):
            if constraint["type"] == "foreign_key":
                to_columns = constraint.get("to_columns") or [name]
                yield name, _ref_name(constraint.get("to")), to_columns[0]
    for constraint in node.get("constraints", []):
        if constraint["type"] == "foreign_key":
            parent = _ref_name(constraint.get("to"))
            columns, to_columns = constraint.get("columns", []), constraint.get("to_columns", [])
            for name, to_column in zip(columns, to_columns, strict=False):
                yield name, parent, to_column


#: The data tests that check a reference: dbt's, and ours on the rows of the latest build.
RELATIONSHIP_TESTS = ("relationships", "relationships_written_by_latest_build")


def _relationship_tests(manifest: dict) -> Iterator[tuple[str, str, str | None, str]]:
    """(tested node id, column, referenced model, referenced column) of every relationships test."""
    for test in manifest["nodes"].values():
        metadata = test.get("test_metadata") or {}
        if test["resource_type"] != "test" or metadata.get("name") not in RELATIONSHIP_TESTS:
            continue
        kwargs = metadata.get("kwargs", {})
        column = test.get("column_name") or kwargs.get("column_name")
        yield test.get("attached_node"), column, _ref_name(kwargs.get("to")), kwargs.get("field")


def read_schema(manifest: dict, package: str = "recdb") -> MartSchema:
    """The mart tables, keys and relationships declared in a dbt manifest (as a dict).

    References to models outside the marts (a seed, a staging model) are left out.
    """
    marts = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
        and node["package_name"] == package
        and _area(node) is not None
        and node["config"].get("materialized") in TABLE_MATERIALIZATIONS
    }
    names = {node["name"] for node in marts.values()}
    # (child, column, parent, parent column) -> how it is held: "fk", "test" or both
    edges: dict[tuple[str, str, str, str], set[str]] = {}
    for node in marts.values():
        for column, parent, parent_column in _foreign_keys(node):
            if parent in names:
                edges.setdefault((node["name"], column, parent, parent_column), set()).add("fk")
    for attached, column, parent, parent_column in _relationship_tests(manifest):
        if attached in marts and parent in names:
            child = marts[attached]["name"]
            edges.setdefault((child, column, parent, parent_column), set()).add("test")

    schema = MartSchema()
    referencing = {(child, column) for child, column, _, _ in edges}
    for node in marts.values():
        keys = _primary_key(node)
        schema.tables[node["name"]] = Table(
            name=node["name"],
            area=_area(node) or "",
            materialized=node["config"]["materialized"],
            columns=tuple(
                Column(
                    name=name,
                    data_type=_postgres_type(column.get("data_type") or ""),
                    is_primary_key=name in keys,
                    is_foreign_key=(node["name"], name) in referencing,
                    is_not_null=name in keys
                    or any(c["type"] == "not_null" for c in column.get("constraints", [])),
                )
                for name, column in node["columns"].items()
            ),
        )
    schema.relationships = [
        Relationship(
            child=child,
            child_column=column,
            parent=parent,
            parent_column=parent_column,
            enforced="fk" in kinds,
            tested="test" in kinds,
        )
        for (child, column, parent, parent_column), kinds in sorted(edges.items())
    ]
    return schema


def _postgres_type(data_type: str) -> str:
    """The type PostgreSQL gives a contract's column: contracts say ``string`` for the
    engine's text type (dbt's one alias), which PostgreSQL calls ``text``."""
    return "text" if data_type.lower() == "string" else data_type


def parse_manifest(root: Path | None = None) -> dict:
    """Run ``dbt parse`` on the project (no database is contacted); return the manifest."""
    from dbt.cli.main import dbtRunner

    root = root or project_dir()
    with tempfile.TemporaryDirectory(prefix="recdb-erd-") as scratch:
        folder = Path(scratch)
        shutil.copyfile(root / "profiles.yml.example", folder / "profiles.yml")
        # The profile needs a password to render; parse never connects.
        env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        if not os.environ.get("PGPASSWORD"):
            env["PGPASSWORD"] = "unused-by-dbt-parse"
        with environment(env):
            result = dbtRunner().invoke(
                [
                    "--quiet",
                    "parse",
                    "--project-dir",
                    str(root),
                    "--profiles-dir",
                    str(folder),
                    "--target-path",
                    str(folder / "target"),
                    "--no-partial-parse",
                ]
            )
        if not result.success:
            raise ErdError(f"dbt parse failed: {result.exception or 'see the output above'}")
        return json.loads((folder / "target" / "manifest.json").read_text(encoding="utf-8"))


# -- drawing ---------------------------------------------------------------------
_COLOUR_NAMES = {"catalog": "blue", "engagement": "orange", "recommendations": "green"}
_HEADER_COLOURS = {"catalog": "#2f6db5", "engagement": "#c46a12", "recommendations": "#2e8540"}


def _table_label(table: Table) -> str:
    """An HTML-like Graphviz label: the name, then one row per column with a port."""
    header = _HEADER_COLOURS.get(table.area, "#555555")
    rows = [
        f'<TR><TD COLSPAN="3" BGCOLOR="{header}" ALIGN="LEFT">'
        f'<FONT COLOR="white"><B>{html.escape(table.name)}</B></FONT>'
        f'<FONT COLOR="white" POINT-SIZE="9">  {html.escape(table.materialized)}</FONT></TD></TR>'
    ]
    for column in table.columns:
        marks = " ".join(
            mark
            for mark, present in (("PK", column.is_primary_key), ("FK", column.is_foreign_key))
            if present
        )
        if marks:  # Graphviz rejects empty <B></B>
            marks = f'<FONT COLOR="#8a1c1c"><B>{marks}</B></FONT>'
        name = html.escape(column.name)
        if column.is_primary_key:
            name = f"<U>{name}</U>"
        nullable = "" if column.is_not_null else " ?"
        rows.append(
            f'<TR><TD ALIGN="LEFT" PORT="{html.escape(column.name)}">{name}</TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="#555555">{html.escape(column.data_type)}'
            f"{nullable}</FONT></TD>"
            f'<TD ALIGN="LEFT" PORT="{html.escape(column.name)}__out">{marks}</TD></TR>'
        )
    body = "".join(rows)
    return (
        f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
        f'BGCOLOR="white">{body}</TABLE>>'
    )


def to_dot(schema: MartSchema) -> str:
    """The Graphviz source of the diagram: tables coloured by mart area, crow's feet on edges.

    No clusters per area: Graphviz then lays the references out left to right
    (facts and bridges on the left, the dimensions they reference on the
    right) with far fewer crossings.
    """
    areas = [a for a in MART_AREAS if any(t.area == a for t in schema.tables.values())]
    areas += sorted({t.area for t in schema.tables.values()} - set(areas))
    legend = ", ".join(f"{_COLOUR_NAMES.get(a, 'grey')}: marts/{a}" for a in areas)
    lines = [
        "// Generated by recdb.docs.erd from the dbt project (`recdb docs --erd`): do not edit.",
        "digraph marts {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=12, nodesep=0.35, ranksep=1.1,',
        '         labelloc=t, label="recdb marts: keys from the contracts, '
        "relationships from the relationships tests and foreign keys\\n"
        f"{legend}\\n"
        "solid: foreign key held by PostgreSQL; dashed: tested by dbt only; "
        'PK underlined; ? nullable"];',
        '  node [shape=plain, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#444444", dir=both, '
        "arrowtail=crow, arrowhead=tee];",
    ]
    for area in areas:
        lines.append(f"  // marts/{area}")
        for name in sorted(n for n, t in schema.tables.items() if t.area == area):
            lines.append(f"  {name} [label={_table_label(schema.tables[name])}];")
    for edge in schema.relationships:
        style = "solid" if edge.enforced else "dashed"
        lines.append(
            f"  {edge.child}:{edge.child_column}__out:e -> {edge.parent}:{edge.parent_column}:w "
            f"[style={style}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def source_digest(dot_source: str) -> str:
    """The SHA-256 (hex) that an SVG drawn from this source records."""
    return hashlib.sha256(dot_source.encode("utf-8")).hexdigest()


def recorded_digest(svg: str) -> str | None:
    """The source digest an SVG made by :func:`render_svg` records, or None."""
    match = _STAMP.search(svg)
    return match.group("digest") if match else None


def render_svg(dot_source: str) -> str:
    """Draw the source with Graphviz's ``dot``; the SVG records the source's digest."""
    dot = shutil.which("dot")
    if dot is None:
        raise ErdError(
            "Graphviz's `dot` is not installed: `sudo apt-get install graphviz` "
            "(`make test` installs it when run as root)"
        )
    result = subprocess.run(
        [dot, "-Tsvg"], input=dot_source, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise ErdError(f"dot failed: {result.stderr.strip()}")
    if result.stderr.strip():
        logger.warning("dot: %s", result.stderr.strip())
    stamp = f"<!-- {STAMP_PREFIX} {source_digest(dot_source)} -->\n"
    svg = result.stdout
    # After the XML declaration and doctype, before the <svg> element.
    position = svg.find("<svg")
    return svg[:position] + stamp + svg[position:]


def generate_erd(root: Path | None = None, manifest: dict | None = None) -> tuple[Path, Path]:
    """Regenerate ``docs/erd.dot`` and ``docs/erd.svg`` from the project; return both paths."""
    root = root or project_dir()
    schema = read_schema(manifest if manifest is not None else parse_manifest(root))
    dot_source = to_dot(schema)
    svg = render_svg(dot_source)
    (root / ERD_DIR).mkdir(parents=True, exist_ok=True)
    dot_path, svg_path = root / ERD_DOT, root / ERD_SVG
    dot_path.write_text(dot_source, encoding="utf-8")
    svg_path.write_text(svg, encoding="utf-8")
    logger.info(
        "ERD of %d marts and %d relationships: %s",
        len(schema.tables),
        len(schema.relationships),
        svg_path,
    )
    return dot_path, svg_path
