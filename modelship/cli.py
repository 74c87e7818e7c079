"""Command line: inspect the registry, promote, roll back, verify; run a pipeline notebook.

    python -m modelship models
    python -m modelship promote v0002 [--reason TEXT] [--force]
    python -m modelship rollback [--reason TEXT]
    python -m modelship verify [VERSION]
    python -m modelship gate [VERSION] [--summary FILE] [--require-pass]
    python -m modelship derive-params --out FILE [--base FILE] [--set "key=value ..."]
    python -m modelship package [VERSION] [--out DIR]
    python -m modelship verify-package PACKAGE
    python -m modelship latest
    python -m modelship param KEY
    python -m modelship run-notebook NOTEBOOK [--output PATH] [--set "key=value ..."]
    python -m modelship retrain [--store FILE] [--since DATE] [--until DATE] [--require-pass]

Every command takes --params FILE (default params.yaml), before or after its name.
"""

from __future__ import annotations

import argparse
import getpass
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .fileio import write_atomic
from .packaging import PackageError
from .params import ParamsError, load_params
from .registry import Registry, RegistryError

KERNEL = "modelship"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class UsageError(ValueError):
    """The command was given something it cannot act on; the message says what to give."""


def _registry(args: argparse.Namespace) -> Registry:
    if args.registry:
        return Registry(args.registry)
    return Registry(load_params(args.params).registry)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cmd_models(args: argparse.Namespace) -> int:
    reg = _registry(args)
    production = reg.production()
    versions = reg.versions()
    if not versions:
        print(f"no model registered in {reg.root}")
        return 0
    print(f"{'':2}{'version':<9}{'created':<27}{'roc_auc':>8}{'recall':>8}{'threshold':>10}  gate")
    for v in versions:
        meta = reg.metadata(v)
        m = meta.get("metrics", {})
        gate = meta.get("gate", {}).get("promote")
        gate_text = "-" if gate is None else ("passed" if gate else "failed")
        fmt = lambda x: f"{x:.4f}" if isinstance(x, (int, float)) else "-"  # noqa: E731
        print(
            f"{'*' if v == production else '':2}{v:<9}{meta.get('created_at', '-'):<27}"
            f"{fmt(m.get('roc_auc')):>8}{fmt(m.get('recall')):>8}{fmt(meta.get('threshold')):>10}  {gate_text}"
        )
    print("(* = production)")
    return 0


def _refusal(version: str, reasons: list[str]) -> str:
    listed = "".join(f"\n  - {r}" for r in reasons)
    return (
        f"{version} was refused by the evaluation gate:{listed}\n"
        f"to promote it anyway, say why: make promote VERSION={version} REASON='…' "
        f"(or: python -m modelship promote {version} --force --reason '…')"
    )


def cmd_promote(args: argparse.Namespace) -> int:
    reg = _registry(args)
    meta = reg.metadata(args.version)
    if "threshold" not in meta:
        raise RegistryError(f"{args.version} has not been evaluated (no threshold): run `make evaluate` first")
    if args.force and not (args.reason or "").strip():
        raise UsageError("--force needs --reason 'why the gate is overridden' (it is kept in history.jsonl)")
    gate = meta.get("gate", {})
    refused = gate.get("promote") is False
    if refused and not args.force:
        raise RegistryError(_refusal(args.version, gate.get("reasons", [])))
    reg.promote(args.version, actor=_actor(), reason=args.reason or "manual promotion", gate_overridden=refused)
    note = " (evaluation gate overridden; the reason is in history.jsonl)" if refused else ""
    print(f"production is now {args.version}{note}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    reg = _registry(args)
    version = reg.rollback(actor=_actor(), reason=args.reason)
    print(f"rolled back: production is now {version}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    reg = _registry(args)
    version = args.version or reg.production()
    if version is None:
        raise RegistryError("no production model to verify: name a version")
    reg.load(version)
    print(f"{version}: checksum verified, model loads")
    return 0


def gate_report(reg: Registry, version: str) -> str:
    """The gate's decision on an evaluated version, its reasons, and where production stands."""
    gate = reg.metadata(version).get("gate")
    if not gate:
        raise RegistryError(f"{version} has not been evaluated: run `make evaluate` first")
    production = reg.production()
    if gate["promote"]:
        head = f"candidate {version} passed the evaluation gate: production is {production or 'none'}"
    elif production == version:
        head = (
            f"candidate {version} did NOT pass the evaluation gate, yet it is production: "
            "`make rollback` or promote another version to replace it. The gate found:"
        )
    else:
        stays = production or "none (no model is in production yet)"
        head = f"candidate {version} NOT promoted: production stays {stays} because the gate found:"
    lines = [head, *(f"  - {r}" for r in gate.get("reasons", []))]
    if not gate["promote"] and production != version:
        lines.append(f"to promote it anyway: make promote VERSION={version} REASON='…'")
    return "\n".join(lines)


def cmd_gate(args: argparse.Namespace) -> int:
    reg = _registry(args)
    version = args.version or reg.latest()
    print(gate_report(reg, version))
    if not (args.summary or args.require_pass):
        return 0
    from .summary import gate_markdown

    markdown, passed = gate_markdown(reg, version, load_params(args.params), str(args.params))
    if args.summary:
        # appended: a CI job summary file collects what every step writes
        with open(args.summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    if args.require_pass and not passed:
        print(f"error: the evaluation gate refused {version}: the chain stops here", file=sys.stderr)
        return 1
    return 0


def cmd_derive_params(args: argparse.Namespace) -> int:
    """A params file for one run: a base file with some keys changed, validated before it is written."""
    base = Path(args.base)
    load_params(base)  # the base must be valid on its own
    values = yaml.safe_load(base.read_text(encoding="utf-8"))
    changes = _overrides(args.set)
    load_params(base, overrides=changes)  # names an unknown key or a bad value before anything is written
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# derived from {base}" + (f" with: {args.set}" if changes else "") + "\n"
    write_atomic(out, header + yaml.safe_dump({**values, **changes}, sort_keys=False))
    print(f"{out}: {base}" + "".join(f", {k}={v!r}" for k, v in changes.items()))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from .packaging import build_package

    reg = _registry(args)
    version = args.version or reg.production()
    if version is None:
        raise RegistryError("no production model to package: name a version, or run the pipeline first")
    archive = build_package(reg, version, load_params(args.params), args.out)
    from .packaging import open_package

    with open_package(archive) as package:  # what was written is what a deployment will accept
        package.load()
    print(f"{archive}: {version}, every checksum verified, model loads")
    return 0


def cmd_verify_package(args: argparse.Namespace) -> int:
    from .packaging import open_package

    with open_package(args.package) as package:
        package.load()
        print(f"{args.package}: {package.version}, every checksum verified, model loads")
    return 0


def cmd_latest(args: argparse.Namespace) -> int:
    reg = _registry(args)
    version, reused = reg.latest_candidate()
    if reused:
        print(
            f"latest candidate {version}: the last training run was identical to it (same data, params, "
            "code and predictions), so nothing new was registered"
        )
    else:
        print(f"latest candidate {version}: registered in {reg.root}")
    return 0


def cmd_param(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    names = sorted(type(params).model_fields)
    if args.key not in names:
        raise UsageError(f"{args.params} has no parameter {args.key!r}; it has: {', '.join(names)}")
    value = getattr(params, args.key)
    print("" if value is None else value)
    return 0


def _notebook_failure(notebook: Path, output: Path, exc: Any) -> str:
    """Traceback first, then the finding alone on the last lines, where the eye lands."""
    trace = "\n".join(exc.traceback or [])
    if not sys.stderr.isatty():
        trace = _ANSI.sub("", trace)
    return (
        f"{trace}\n\n{notebook} failed at cell In [{exc.exec_count}] (executed copy: {output})\n"
        f"{exc.ename}: {exc.evalue}"
    )


def _overrides(text: str | None) -> dict[str, Any]:
    """Space-separated key=value pairs, each value read as YAML (`x=3 name=null`)."""
    changes: dict[str, Any] = {}
    for item in shlex.split(text or ""):
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"override {item!r} is not key=value")
        changes[key] = yaml.safe_load(raw) if raw else None
    return changes


def cmd_run_notebook(args: argparse.Namespace) -> int:
    notebook = Path(args.notebook)
    if not notebook.is_file():
        raise UsageError(f"notebook not found: {notebook}")
    params = load_params(args.params)  # a bad params file stops here, before a kernel starts
    output = Path(args.output) if args.output else Path(params.reports_dir) / notebook.name
    output.parent.mkdir(parents=True, exist_ok=True)
    extra = _overrides(getattr(args, "set", None))
    if "params_file" in extra:
        raise UsageError("params_file comes from --params, not --set")
    import papermill as pm  # heavy: only this command needs it
    from jupyter_client.kernelspec import NoSuchKernel

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters={"params_file": args.params, **extra},
            kernel_name=args.kernel,
            cwd=".",
            progress_bar=True,
        )
    except pm.PapermillExecutionError as exc:
        print(_notebook_failure(notebook, output, exc), file=sys.stderr)
        return 1
    except NoSuchKernel:
        raise UsageError(f"no Jupyter kernel named {args.kernel!r}: run `make setup`") from None
    except ValueError as exc:  # papermill's word for a file it cannot read or run as a notebook
        raise UsageError(f"{notebook} cannot be run as a notebook: {exc}") from None
    print(f"{notebook} -> {output}")
    return 0


def _service_store(serve_config: str) -> Path:
    """The service's prediction store, where serve/config.yaml (paths.data_dir) puts it."""
    from serve.settings import Settings

    try:
        return Settings.from_config(serve_config).paths.store
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise UsageError(f"cannot find the service's store from {serve_config}: {exc}; name it with --store") from None


def cmd_retrain(args: argparse.Namespace) -> int:
    from . import retrain  # pandas and the rest: only this command needs them
    from .dataset import SnapshotError
    from .feedback import FeedbackError, Period, parse_time

    store = Path(args.store) if args.store else _service_store(args.serve_config)
    try:
        period = Period(parse_time(args.since, "--since"), parse_time(args.until, "--until"))
        prepared = retrain.prepare(args.params, store, period)
    except (FeedbackError, SnapshotError) as exc:
        raise UsageError(str(exc)) from None
    print(retrain.describe(prepared))

    def run_notebook(notebook: Path, params_file: Path) -> int:
        ns = argparse.Namespace(notebook=str(notebook), params=str(params_file), output=None, kernel=args.kernel)
        return cmd_run_notebook(ns)

    status, version = retrain.run(prepared, run_notebook)
    if status != 0 or version is None:
        print(
            f"error: the pipeline stopped on the retraining data (params {prepared.params_file}): "
            "its finding is above; nothing was promoted",
            file=sys.stderr,
        )
        return status or 1
    reg = Registry(load_params(prepared.params_file).registry)  # the params file's: its production
    print(f"candidate {version} trained on {prepared.combined.snapshot}; its manifests are in {version}'s metadata")
    print(gate_report(reg, version))
    if args.require_pass and not reg.metadata(version)["gate"]["promote"]:
        print(f"error: the evaluation gate refused {version}", file=sys.stderr)
        return 1
    return 0


def _common() -> argparse.ArgumentParser:
    """--params and --registry, accepted after the command name as well as before it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default=argparse.SUPPRESS, help="params file naming the registry")
    common.add_argument("--registry", default=argparse.SUPPRESS, help="registry folder (overrides the params file)")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelship", description="Manage the model registry.")
    parser.add_argument("--params", default="params.yaml", help="params file naming the registry")
    parser.add_argument("--registry", help="registry folder (overrides the params file)")
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_common()]
    sub.add_parser("models", parents=common, help="list registered versions").set_defaults(func=cmd_models)
    p = sub.add_parser("promote", parents=common, help="make a version the production model")
    p.add_argument("version")
    p.add_argument("--reason", help="why (kept in history.jsonl); required with --force")
    p.add_argument("--force", action="store_true", help="promote a version the evaluation gate refused")
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("rollback", parents=common, help="return to the previous production version")
    p.add_argument("--reason", default="manual rollback")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("verify", parents=common, help="check a version's checksum and that it loads")
    p.add_argument("version", nargs="?")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser(
        "gate", parents=common, help="the evaluation gate's decision on a version (default: the latest candidate)"
    )
    p.add_argument("version", nargs="?")
    p.add_argument("--summary", help="append the decision as Markdown to this file (a CI job summary)")
    p.add_argument("--require-pass", action="store_true", help="exit 1 when the gate refused the version")
    p.set_defaults(func=cmd_gate)
    p = sub.add_parser("derive-params", parents=common, help="write a params file: a base one with keys changed")
    p.add_argument("--base", default="params.yaml", help="params file to start from")
    p.add_argument("--set", help="space-separated key=value overrides (values read as YAML)")
    p.add_argument("--out", required=True, help="params file to write")
    p.set_defaults(func=cmd_derive_params)
    p = sub.add_parser("package", parents=common, help="build the model package of a version (default: production)")
    p.add_argument("version", nargs="?")
    p.add_argument("--out", default="var/packages", help="folder of the archive")
    p.set_defaults(func=cmd_package)
    p = sub.add_parser("verify-package", parents=common, help="check every checksum of a package and load its model")
    p.add_argument("package")
    p.set_defaults(func=cmd_verify_package)
    sub.add_parser(
        "latest",
        parents=common,
        help="the candidate the last training run registered or matched",
    ).set_defaults(func=cmd_latest)
    p = sub.add_parser("param", parents=common, help="print one value of the params file")
    p.add_argument("key")
    p.set_defaults(func=cmd_param)
    p = sub.add_parser(
        "run-notebook",
        parents=common,
        help="execute a pipeline notebook with papermill; on failure, end with the finding",
    )
    p.add_argument("notebook")
    p.add_argument("--output", help="executed copy (default: the params file's reports_dir)")
    p.add_argument("--kernel", default=KERNEL)
    p.add_argument("--set", help="space-separated key=value notebook parameters (values read as YAML)")
    p.set_defaults(func=cmd_run_notebook)
    p = sub.add_parser(
        "retrain",
        parents=common,
        help="export the service's labelled feedback as a snapshot, combine it, run 01-03 and the gate on it",
    )
    p.add_argument("--store", help="the service's prediction store (default: from --serve-config)")
    p.add_argument("--serve-config", default="serve/config.yaml", help="Serve config naming the store")
    p.add_argument("--since", help="only labels recorded at or after this ISO date or date-time (UTC)")
    p.add_argument("--until", help="only labels recorded before this ISO date or date-time (UTC)")
    p.add_argument("--require-pass", action="store_true", help="exit 1 when the gate refuses the candidate")
    p.add_argument("--kernel", default=KERNEL)
    p.set_defaults(func=cmd_retrain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RegistryError, ParamsError, UsageError, PackageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except yaml.YAMLError as exc:
        print(f"error: params file {args.params} is not valid YAML: {exc}", file=sys.stderr)
        return 1
