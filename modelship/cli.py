"""Command line: inspect the registry, promote, roll back, verify.

    python -m modelship models
    python -m modelship promote v0002 [--reason TEXT]
    python -m modelship rollback [--reason TEXT]
    python -m modelship verify [VERSION]
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Sequence

from .params import ParamsError, load_params
from .registry import Registry, RegistryError


def _registry(args: argparse.Namespace) -> Registry:
    if args.registry:
        return Registry(args.registry)
    return Registry(load_params(args.params)["registry"])


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
        print(f"{'*' if v == production else '':2}{v:<9}{meta.get('created_at', '-'):<27}"
              f"{fmt(m.get('roc_auc')):>8}{fmt(m.get('recall')):>8}{fmt(meta.get('threshold')):>10}  {gate_text}")
    print("(* = production)")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    reg = _registry(args)
    meta = reg.metadata(args.version)
    if "threshold" not in meta:
        raise RegistryError(f"{args.version} has not been evaluated (no threshold): run `make evaluate` first")
    reg.promote(args.version, actor=_actor(), reason=args.reason)
    print(f"production is now {args.version}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelship", description="Manage the model registry.")
    parser.add_argument("--params", default="params.yaml", help="params file naming the registry")
    parser.add_argument("--registry", help="registry folder (overrides the params file)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list registered versions").set_defaults(func=cmd_models)
    p = sub.add_parser("promote", help="make a version the production model")
    p.add_argument("version")
    p.add_argument("--reason", default="manual promotion")
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("rollback", help="return to the previous production version")
    p.add_argument("--reason", default="manual rollback")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("verify", help="check a version's checksum and that it loads")
    p.add_argument("version", nargs="?")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RegistryError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
