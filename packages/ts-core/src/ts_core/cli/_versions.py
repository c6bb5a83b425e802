"""``ts versions``: the versions of an OCDBT database (needs the ts-ocdbt distribution)."""

from __future__ import annotations

from typing import Any

import click

from ._common import CliError, SpecArgument, context_from, echo_json, human_bytes


@click.command()
@click.argument("target", type=SpecArgument())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def versions(ctx: click.Context, target: Any, as_json: bool) -> None:
    """Every committed version of an OCDBT database, oldest first.

    TARGET is the database (``file:///data/db/|ocdbt:``) or the kvstore that holds it.
    """
    import ts_core as ts

    try:
        from ts_ocdbt import versions as ocdbt_versions
    except ImportError:
        raise CliError("ts versions needs the ts-ocdbt distribution (pip install ts-ocdbt)") from None
    context = context_from(ctx)
    spec = target
    if isinstance(target, str):
        spec = ts.KvStore.Spec(target).to_json()
    if not (isinstance(spec, dict) and spec.get("driver") == "ocdbt"):
        spec = {"driver": "ocdbt", "base": spec}
    store = ts.KvStore.open(spec, context=context).result()
    listed = ocdbt_versions.list_versions(store).result()
    if as_json:
        echo_json([
            {
                "generation_number": version.generation_number,
                "commit_time": version.commit_time_iso,
                "num_keys": version.num_keys,
                "num_tree_bytes": version.num_tree_bytes,
                "num_indirect_value_bytes": version.num_indirect_value_bytes,
            }
            for version in listed
        ])
        return
    if not listed:
        click.echo("no versions (an empty database)")
        return
    click.echo(f"{'generation':>10}  {'commit time (UTC)':<30}  {'keys':>8}  {'data':>10}")
    for version in listed:
        click.echo(
            f"{version.generation_number:>10}  {version.commit_time_iso:<30}  {version.num_keys:>8}"
            f"  {human_bytes(version.num_indirect_value_bytes):>10}"
        )
