"""Meta-step speed of metabook against learn2learn, measured in one process.

Two workloads:

* ``sinusoid`` (the MAML paper's setup): an MLP 1-40-40-1, a meta-batch of 25
  tasks with 10 support and 10 query points each, one inner step, Adam outer
  step.
* ``transformer`` (Part II): the book's TransformerClassifier (2 layers, d_model
  64, word tokens of WordNet definitions), a meta-batch of 4 tasks of 5-way
  1-shot with 5 queries per class, 5 inner steps of ``inner_lr`` 0.1, second-
  and first-order.

Each algorithm is timed as a full meta-step (zero_grad, forward, backward,
optimiser step) on the same fixed batch, in interleaved rounds so that machine
noise hits both sides alike; the figure is the median round. The printed ratio
is learn2learn's time divided by metabook's (above 1: metabook is faster).

Usage:
    python benchmarks/bench_maml.py                 # best device (cuda, mps,
    cpu) python benchmarks/bench_maml.py --device cpu --rounds 15 --steps 20
    python benchmarks/bench_maml.py --workload transformer --rounds 7 --steps 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

import metabook as mb


def load_learn2learn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import learn2learn
        except ImportError:
            sys.exit(
                "learn2learn is needed for the baseline: bash "
                "scripts/install_learn2learn.sh"
            )
    return learn2learn


# ----------------------------------------------------------------- baselines
def l2l_maml_step(
    l2l, model, batch, opt, inner_lr, inner_steps, first_order, loss=F.mse_loss
) -> Callable[[], None]:
    """The usual learn2learn loop: one clone per task, adapt, sum the query
    losses."""
    maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=first_order)

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for i in range(batch.meta_batch_size):
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(
                    loss(learner(batch.support_x[i]), batch.support_y[i])
                )
            total = total + loss(learner(batch.query_x[i]), batch.query_y[i])
        (total / batch.meta_batch_size).backward()
        opt.step()

    return step


def l2l_reptile_step(
    l2l, model, batch, opt, inner_lr, inner_steps
) -> Callable[[], None]:
    """Reptile with learn2learn's tools: a first-order clone per task, then
    θ.grad = θ − mean θ'."""
    maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=True)

    def step():
        opt.zero_grad(set_to_none=True)
        deltas = [torch.zeros_like(p) for p in model.parameters()]
        for i in range(batch.meta_batch_size):
            learner = maml.clone()
            for _ in range(inner_steps):
                learner.adapt(
                    F.mse_loss(learner(batch.support_x[i]), batch.support_y[i])
                )
            for d, p, q in zip(
                deltas, model.parameters(), learner.parameters()
            ):
                d += (p - q).detach() / batch.meta_batch_size
        for p, d in zip(model.parameters(), deltas):
            p.grad = d
        opt.step()

    return step


def metabook_step(learner, batch, opt) -> Callable[[], None]:
    def step():
        opt.zero_grad(set_to_none=True)
        learner.backward(batch)
        opt.step()

    return step


# ------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pair(
    steps: dict[str, Callable[[], None]], device, rounds: int, per_round: int
) -> dict[str, float]:
    """Median seconds per call of each step, measured in interleaved rounds."""
    for fn in steps.values():  # warm-up
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(per_round):
                fn()
            sync(device)
            times[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(v) for name, v in times.items()}


def sinusoid_rows(l2l, device, args) -> list[tuple]:
    """MAML, FOMAML (one inner step) and Reptile on the MAML paper's sinusoid
    workload."""
    g = mb.set_seed(0)
    batch = mb.SinusoidTasks().sample(25, 10, 10, g).to(device)
    inner_lr = 0.01

    def fresh():
        torch.manual_seed(0)
        model = mb.MLP(hidden=(40, 40)).to(device)
        return model, torch.optim.Adam(model.parameters(), 1e-3, foreach=True)

    rows = []
    for label, first_order in (
        ("MAML (second-order)", False),
        ("FOMAML (first-order)", True),
    ):
        m1, o1 = fresh()
        m2, o2 = fresh()
        ours = metabook_step(
            mb.MAML(m1, inner_lr, 1, first_order=first_order), batch, o1
        )
        theirs = l2l_maml_step(l2l, m2, batch, o2, inner_lr, 1, first_order)
        t = time_pair(
            {"metabook": ours, "learn2learn": theirs},
            device,
            args.rounds,
            args.steps,
        )
        rows.append(("sinusoid", label, 1, t["metabook"], t["learn2learn"]))
    m1, o1 = fresh()
    m2, o2 = fresh()
    k = args.reptile_steps
    ours = metabook_step(mb.Reptile(m1, inner_lr, k), batch, o1)
    theirs = l2l_reptile_step(l2l, m2, batch, o2, inner_lr, k)
    t = time_pair(
        {"metabook": ours, "learn2learn": theirs},
        device,
        args.rounds,
        args.steps,
    )
    rows.append(("sinusoid", "Reptile", k, t["metabook"], t["learn2learn"]))
    return rows


def transformer_rows(l2l, device, args) -> list[tuple]:
    """MAML and FOMAML (5 inner steps) on 4 tasks of 5-way 1-shot WordNet
    definitions."""
    from metabook.models import TransformerClassifier
    from metabook.tasks import WordNetDefinitions

    data = WordNetDefinitions().load()
    tok = data.tokenizer
    g = mb.set_seed(0)
    batch = (
        data.sampler("train", n_way=5, k_shot=1, n_query=5, generator=g)
        .sample_batch(4)
        .to(device)
    )
    inner_lr, steps = 0.1, 5

    def fresh():
        torch.manual_seed(0)
        model = TransformerClassifier(
            tok.vocab_size, 5, max_len=tok.max_len
        ).to(device)
        return model, torch.optim.Adam(model.parameters(), 1e-3, foreach=True)

    rows = []
    for label, first_order in (
        ("MAML (second-order)", False),
        ("FOMAML (first-order)", True),
    ):
        m1, o1 = fresh()
        m2, o2 = fresh()
        ours = metabook_step(
            mb.MAML(m1, inner_lr, steps, first_order=first_order), batch, o1
        )
        theirs = l2l_maml_step(
            l2l, m2, batch, o2, inner_lr, steps, first_order, F.cross_entropy
        )
        t = time_pair(
            {"metabook": ours, "learn2learn": theirs},
            device,
            args.rounds,
            args.steps,
        )
        rows.append(
            ("transformer", label, steps, t["metabook"], t["learn2learn"])
        )
    return rows


def profile_transformer(device, steps: int = 3) -> dict[str, float]:
    """Self time of metabook's Transformer MAML meta-step by operator; prints
    the top ones.

    Matrix products (``bmm``, ``mm``, ``addmm``, ``baddbmm``) do the same work
    in a per-task loop and in a vectorised step; everything else is overhead
    that batching can remove.
    """
    from torch.profiler import ProfilerActivity, profile

    from metabook.models import TransformerClassifier
    from metabook.tasks import WordNetDefinitions

    data = WordNetDefinitions().load()
    batch = (
        data.sampler("train", 5, 1, 5, generator=mb.set_seed(0))
        .sample_batch(4)
        .to(device)
    )
    torch.manual_seed(0)
    model = TransformerClassifier(
        data.tokenizer.vocab_size, 5, max_len=data.tokenizer.max_len
    ).to(device)
    step = metabook_step(
        mb.MAML(model, 0.1, 5),
        batch,
        torch.optim.Adam(model.parameters(), 1e-3),
    )
    step()
    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if device.type == "cuda" else []
    )
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    shares = {e.key: e.self_cpu_time_total / total for e in events}
    matmul = sum(
        v
        for k, v in shares.items()
        if k in ("aten::bmm", "aten::mm", "aten::addmm", "aten::baddbmm")
    )
    print()
    print(
        "# metabook Transformer MAML step, self CPU time by operator "
        f"({steps} steps)"
    )
    for key, share in sorted(shares.items(), key=lambda kv: -kv[1])[:8]:
        print(f"{key:>28}: {share:6.1%}")
    print(f"{'matrix products in all':>28}: {matmul:6.1%}")
    return {
        "matmul_share": matmul,
        **{k: v for k, v in sorted(shares.items(), key=lambda kv: -kv[1])[:8]},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, mps (default: best available)",
    )
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument(
        "--steps", type=int, default=10, help="meta-steps per round"
    )
    parser.add_argument(
        "--reptile-steps",
        type=int,
        default=5,
        help="inner steps for the Reptile rows",
    )
    parser.add_argument(
        "--workload", choices=("sinusoid", "transformer", "all"), default="all"
    )
    parser.add_argument(
        "--json", default=None, help="also write the results to this file"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile metabook's Transformer MAML step: "
        "where does its time go?",
    )
    args = parser.parse_args(argv)

    l2l = load_learn2learn()
    device = mb.get_device(args.device)
    rows = []
    if args.workload in ("sinusoid", "all"):
        rows += sinusoid_rows(l2l, device, args)
    if args.workload in ("transformer", "all"):
        rows += transformer_rows(l2l, device, args)

    print(
        "# metabook vs learn2learn, same process, same batch, same initial "
        "weights"
    )
    print(
        f"# device={device} torch={torch.__version__} "
        f"learn2learn={l2l.__version__} "
        f"threads={torch.get_num_threads()} "
        f"python={platform.python_version()} "
        f"cpu={platform.processor() or platform.machine()}"
    )
    print(
        f"# median of {args.rounds} interleaved rounds x {args.steps} "
        "meta-steps"
    )
    print()
    print(
        "| workload | algorithm | inner steps | metabook ms/step | "
        "learn2learn ms/step | speed-up |"
    )
    print("|---|---|---|---|---|---|")
    results = []
    for workload, label, steps, ours_s, theirs_s in rows:
        ratio = theirs_s / ours_s
        print(
            f"| {workload} | {label} | {steps} | {ours_s * 1e3:.2f} | "
            f"{theirs_s * 1e3:.2f} | {ratio:.1f}x |"
        )
        results.append(
            {
                "workload": workload,
                "algorithm": label,
                "inner_steps": steps,
                "metabook_ms": ours_s * 1e3,
                "learn2learn_ms": theirs_s * 1e3,
                "speedup": ratio,
            }
        )
    out = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rows": results,
    }
    if args.profile:
        out["profile"] = profile_transformer(device)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
