"""`gridsync-sim`: run N virtual phones against a real server and check they all agree with it.

    gridsync-sim --server http://127.0.0.1:8000 --data-dir SERVER_DATA_DIR --devices 5 --seed 1 --rounds 3

Exit status 0 when every phone's view of every case it can see equals the server's, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path

from mobile.sim.admin import AdminError
from mobile.sim.field import CityMissing, Outcome, Simulation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridsync-sim", description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the sync server's URL")
    parser.add_argument("--data-dir", required=True, help="the server's data directory (for admin commands)")
    parser.add_argument("--devices", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--passphrase-env",
        default="GRIDSYNC_PASSPHRASE",
        help="environment variable holding the server passphrase (default %(default)s)",
    )
    parser.add_argument("--workdir", help="where the phones keep their stores (default: a new temp folder)")
    return parser


def summary(outcome: Outcome) -> str:
    lines = ["", f"{'device':<18} {'role':<11} {'ops sent':>8} {'cases':>6} {'refused':>8}"]
    for phone in outcome.phones:
        lines.append(
            f"{phone.person.worker_id:<18} {phone.person.role:<11} {phone.ops_sent:>8} "
            f"{len(phone.device.cases()):>6} {phone.refused_locally:>8}"
        )
    by_status = Counter(doc["status"] for doc in outcome.server_cases.values())
    conflicts = sum(len(doc["conflicts"]) for doc in outcome.server_cases.values())
    open_conflicts = sum(
        1 for doc in outcome.server_cases.values() for c in doc["conflicts"] if not c["resolved"]
    )
    lines.append("")
    lines.append("cases by status: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    lines.append(
        f"cases {len(outcome.server_cases)}, photos {outcome.photos}, "
        f"conflicting edits made {outcome.conflicts_made}, hard conflicts {conflicts} ({open_conflicts} open)"
    )
    if outcome.disagreements:
        lines.append(f"DISAGREEMENTS ({len(outcome.disagreements)}):")
        lines += [f"  {d}" for d in outcome.disagreements]
    else:
        lines.append("every phone agrees with the server")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.devices < 1 or args.rounds < 0:
        print("gridsync-sim: --devices must be at least 1", file=sys.stderr)
        return 2
    simulation = Simulation(
        args.server,
        Path(args.data_dir),
        devices=args.devices,
        seed=args.seed,
        rounds=args.rounds,
        passphrase_env=args.passphrase_env,
        workdir=Path(args.workdir) if args.workdir else None,
    )
    try:
        outcome = asyncio.run(simulation.run())
        print(summary(outcome))
    except (CityMissing, AdminError) as exc:
        print(f"gridsync-sim: {exc}", file=sys.stderr)
        return 2
    finally:
        simulation.close()
    return 1 if outcome.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
