"""Speculative decoding at the roofline: what checking several tokens in one step buys.

A decode step at small batch is memory-bound: it reads every weight to produce one token per
sequence. Checking ``n`` candidate tokens per sequence in the same step reads the same weights
once, so it costs almost nothing more until the step's GEMMs (now T = b·n tokens) climb to
the ridge. Two ways to get candidates, both counted with the same operators (the ``verify``
phase of :mod:`roofline_utils.operators`):

Medusa (Cai et al. 2024, arXiv:2401.10774): K heads on the target propose a tree of n tokens;
one verify step checks it and accepts on average ``acceptance`` tokens (the paper's
"acceleration rate"):
    overhead(b) = t_verify(b, n, K) / t_decode(b)
    speedup(b)  = acceptance / overhead(b)

A draft model (Leviathan et al. 2023, arXiv:2211.17192): the draft runs γ decode steps, the
target verifies the γ + 1 tokens (a chain) in one step. With a per-token acceptance rate α a
round yields on average (1 - α^(γ+1)) / (1 - α) tokens:
    round(b)   = Σ_{j<γ} t_draft_decode(b, s + j) + t_target_verify(b, n = γ + 1)
    speedup(b) = tokens per round · t_target_decode(b) / round(b)
The draft's catch-up on the bonus token and the sampling arithmetic are left out (both are tiny
beside a forward pass).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .errors import RooflineInputError
from .hardware import Hardware, get_hardware
from .models import ModelConfig, load_model, preset, preset_names
from .operators import VERIFY, check_tensor_parallel
from .roofline import totals
from .workload import MAX_TREE_SIZE, Workload, check_workload

# Medusa's default tree, mc_sim_7b_63 (FasterDecoding/Medusa, medusa/model/medusa_choices.py): the depth
# of each of its 63 candidates (1 = proposed by head 1), in the order the repository lists them, most
# likely first. A tree of n tokens is the root (the target's own next token) and the first n - 1.
MEDUSA_TREE_DEPTHS = (1, 2, 1, 2, 1, 3, 2, 2, 1, 2, 1, 2, 2, 2, 3, 1, 2, 1, 2, 3, 2, 1, 2, 3, 2, 2, 1, 1, 3, 3, 2, 3,
                      2, 2, 3, 3, 4, 3, 3, 3, 2, 2, 3, 3, 3, 2, 3, 2, 2, 3, 3, 2, 2, 2, 3, 2, 3, 3, 2, 3, 4, 2, 3)
DEFAULT_TREE_SIZE = 1 + len(MEDUSA_TREE_DEPTHS)  # 64
DEFAULT_MEDUSA_HEADS = 4  # MedusaConfig's default in medusa/model/medusa_model.py; the default tree is 4 deep
DEFAULT_ACCEPTANCE = 3.5  # tokens per step: about what the paper reports for Vicuna-7B/13B with Medusa-2
DEFAULT_DRAFT_ACCEPTANCE = 0.7  # α: Leviathan et al. measure about 0.5 to 0.9 across their model pairs
DEFAULT_DRAFT_TOKENS = 4  # γ
TREE_SIZES = (1, 4, 16, 64)  # the curves of the overhead chart
DRAFT_TOKENS = (1, 2, 3, 4, 6, 8)  # the γ searched for the best per batch


def tokens_per_round(alpha: float, gamma: int) -> float:
    """Expected tokens a draft round yields: (1 - α^(γ+1)) / (1 - α) (Leviathan et al. 2023, eq. 1).

    Every round yields at least one token (the target's own), at most γ + 1.
    α = 0.8, γ = 4: (1 - 0.32768) / 0.2 = 3.3616.
    """
    _check_alpha(alpha)
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not 0 < alpha < 1:
        raise RooflineInputError("draft_acceptance", f"must be a number strictly between 0 and 1, got {alpha!r}")


def useful_scores_per_head(seq_len: int, tree_size: int, chain: bool) -> float | None:
    """Scores a tree mask keeps, per sequence and head, beside the dense n·(s-1+n).

    Each candidate attends to the s-1 cached positions and to its ancestors in the tree, itself
    included: n·(s-1) + Σ (depth + 1). A chain (a draft model's γ+1 tokens) has depths 0..n-1,
    so n·(s-1) + n·(n+1)/2; a Medusa tree of n tokens takes the first n-1 candidates of the
    default tree (None beyond its 64 tokens). n = 1: s, the decode step's count.
    """
    depths = list(range(tree_size)) if chain else ([0, *MEDUSA_TREE_DEPTHS[:tree_size - 1]]
                                                   if tree_size <= DEFAULT_TREE_SIZE else None)
    return None if depths is None else tree_size * (seq_len - 1) + sum(d + 1 for d in depths)


def _tree_sizes(tree_sizes) -> list[int]:
    """A non-empty list of whole tree sizes from 1 to MAX_TREE_SIZE (2.5 is refused, not truncated)."""
    if isinstance(tree_sizes, (str, bytes, dict, set)) or not isinstance(tree_sizes, (list, tuple, np.ndarray)) \
            or len(tree_sizes) == 0 or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 1 <= n <= MAX_TREE_SIZE for n in tree_sizes):
        raise RooflineInputError("tree_sizes", f"must be a non-empty list of integers from 1 to {MAX_TREE_SIZE:,}, "
                                 f"got {str(tree_sizes)[:60]!r}")
    return [int(n) for n in tree_sizes]


def _batches(batches) -> np.ndarray:
    """The batch axis of a curve: one or more positive integers, as a 1-D array."""
    from .workload import check_positive_integers

    check_positive_integers("batches", batches)
    values = np.atleast_1d(np.asarray(batches))
    if values.ndim != 1:
        raise RooflineInputError("batches", f"must be one number or a flat list of them, got shape {values.shape}")
    return values.astype(int)


def _single_length(workload: Workload) -> Workload:
    """A curve runs over the batch at one context length: the workload's (its largest, if several)."""
    return replace(workload, seq_len=int(np.max(workload.seq_len)))


def with_tree(workload: Workload, tree_size: int, medusa_heads: int) -> Workload:
    """The verify step of a tree of ``tree_size`` tokens; a tree of one token is the plain decode step,
    so it runs no heads (everywhere: curves, tables and readings agree on it)."""
    return replace(workload, tree_size=int(tree_size), medusa_heads=int(medusa_heads) if tree_size > 1 else 0)


def _times(model: ModelConfig, hardware: Hardware, workload: Workload, batches: np.ndarray, phase: str
           ) -> np.ndarray:
    grid = replace(workload, batch=batches)
    return np.broadcast_to(totals(model, hardware, grid, (phase,))[phase]["time_s"], batches.shape)


def verify_curve(model: ModelConfig | str, hardware: Hardware | str, workload: Workload, batches,
                 tree_sizes=TREE_SIZES, medusa_heads: int = DEFAULT_MEDUSA_HEADS,
                 acceptance: float = DEFAULT_ACCEPTANCE) -> pd.DataFrame:
    """Medusa step time against batch, per tree size: overhead over a decode step and the speedup.

    One row per (tree_size, batch): t_decode_s, t_verify_s, overhead = t_verify / t_decode,
    accepted = min(acceptance, n) (a tree of n tokens cannot accept more than n; the acceptance
    given is the one measured for the configured tree, so for smaller trees it is an upper
    bound), speedup = accepted / overhead. A tree of 1 token is the plain decode step (no heads).
    """
    model, hardware = load_model(model), get_hardware(hardware)
    workload, batches = _single_length(check_workload(workload)), _batches(batches)
    if isinstance(acceptance, bool) or not isinstance(acceptance, (int, float, np.integer, np.floating)) \
            or not 1 <= acceptance <= MAX_TREE_SIZE:
        raise RooflineInputError("acceptance", f"must be a number of tokens from 1 to {MAX_TREE_SIZE:,}, "
                                 f"got {acceptance!r}")
    tree_sizes = _tree_sizes(tree_sizes)
    decode = _times(model, hardware, workload, batches, "decode")
    rows = []
    for n in tree_sizes:
        tree = with_tree(workload, n, medusa_heads)
        verify = _times(model, hardware, tree, batches, VERIFY)
        accepted = min(acceptance, n)
        rows.append(pd.DataFrame({"tree_size": int(n), "batch": batches, "t_decode_s": decode, "t_verify_s": verify,
                                  "overhead": verify / decode, "accepted": accepted,
                                  "speedup": accepted * decode / verify}))
    return pd.concat(rows, ignore_index=True)


def draft_curve(target: ModelConfig | str, draft: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                batches, draft_tokens=DRAFT_TOKENS, alpha: float = DEFAULT_DRAFT_ACCEPTANCE) -> pd.DataFrame:
    """Draft-model speculative decoding against batch, per γ: one row per (gamma, batch).

    Columns: t_decode_s (the target's plain step), t_draft_s (γ draft steps at KV lengths s..s+γ-1),
    t_verify_s (the target checking γ+1 tokens), round_s, tokens_per_round, speedup.
    """
    target, draft = load_model(target), load_model(draft)
    hardware, workload = get_hardware(hardware), _single_length(check_workload(workload))
    check_draft(target, draft, workload.tp)
    _check_alpha(alpha)
    batches = _batches(batches)
    seq_len = workload.seq_len
    decode = _times(target, hardware, workload, batches, "decode")
    rows = []
    for gamma in draft_tokens:
        steps = seq_len + np.arange(int(gamma))  # the draft's KV cache grows by one per step
        grid = np.broadcast_to(batches[:, None], (len(batches), len(steps)))
        per_step = totals(draft, hardware, replace(workload, batch=grid.ravel(), seq_len=np.tile(steps, len(batches))),
                          ("decode",))["decode"]["time_s"]
        drafting = np.asarray(per_step).reshape(len(batches), len(steps)).sum(axis=1)
        verify = _times(target, hardware, with_tree(workload, int(gamma) + 1, 0), batches, VERIFY)
        expected = tokens_per_round(alpha, int(gamma))
        rows.append(pd.DataFrame({"gamma": int(gamma), "batch": batches, "t_decode_s": decode, "t_draft_s": drafting,
                                  "t_verify_s": verify, "round_s": drafting + verify,
                                  "tokens_per_round": expected,
                                  "speedup": expected * decode / (drafting + verify)}))
    return pd.concat(rows, ignore_index=True)


def best_draft_tokens(curve: pd.DataFrame) -> pd.DataFrame:
    """Per batch, the γ with the highest speedup (its row of :func:`draft_curve`)."""
    return curve.loc[curve.groupby("batch", sort=True)["speedup"].idxmax()].reset_index(drop=True)


def check_draft(target: ModelConfig, draft: ModelConfig, tp: int = 1) -> None:
    """A draft proposes tokens the target scores: both must share one vocabulary (compared by size: a
    config.json names no tokenizer), and the draft runs on the same ``tp`` devices, so it must split
    over them too."""
    if draft.vocab_size != target.vocab_size:
        raise RooflineInputError("draft_model", f"{draft.name} has a vocabulary of {draft.vocab_size:,} tokens, "
                                 f"{target.name} {target.vocab_size:,}", "a model with the target's vocabulary: "
                                 + (", ".join(_same_vocabulary(target)) or "no shipped preset has it"))
    try:
        check_tensor_parallel(draft, tp)
    except RooflineInputError as exc:
        raise RooflineInputError("draft_model", f"{draft.name} does not split over tp={tp} devices "
                                 f"({str(exc).split(': ', 1)[1]})") from None


def _same_vocabulary(target: ModelConfig) -> list[str]:
    return [name for name in preset_names() if preset(name).vocab_size == target.vocab_size and name != target.name]


def default_draft(target: ModelConfig | str, tp: int = 1) -> str | None:
    """The smallest shipped preset of the target's family (its name up to the size: llama-7b for
    llama-33b, llama-2-7b for llama-2-70b) with its vocabulary, at most a quarter of its parameters
    (a draft pays only when much smaller), and split over ``tp`` devices. None when there is none:
    a vocabulary of the same size is no proof of the same tokenizer across families."""
    target = load_model(target)
    family = target.name.rsplit("-", 1)[0]

    def fits(name: str) -> bool:
        draft = preset(name)
        try:
            check_draft(target, draft, tp)
        except RooflineInputError:
            return False
        return name.rsplit("-", 1)[0] == family and 4 * draft.parameter_count() <= target.parameter_count()

    drafts = [name for name in _same_vocabulary(target) if fits(name)]
    return min(drafts, key=lambda name: preset(name).parameter_count()) if drafts else None


def step_table(model: ModelConfig | str, hardware: Hardware | str, workload: Workload) -> pd.DataFrame:
    """Per operator, one plain decode step beside one verify step of the workload's tree (time × count).

    Columns: operator, decode_s, verify_s, ratio (verify / decode as text, "only in verify" for the
    Medusa heads), bound in the verify step. The last row is the step total.
    """
    from .roofline import operator_table

    workload = with_tree(workload, workload.tree_size, workload.medusa_heads)
    table = operator_table(model, hardware, workload, ("decode", VERIFY))
    table = table.assign(seconds=table["time_s"] * table["count"])
    decode = table[table["phase"] == "decode"].set_index("operator")["seconds"]
    verify = table[table["phase"] == VERIFY].set_index("operator")
    rows = pd.DataFrame({"operator": verify.index, "decode_s": decode.reindex(verify.index).fillna(0.0).to_numpy(),
                         "verify_s": verify["seconds"].to_numpy(), "bound": verify["bound"].to_numpy()})
    total = pd.DataFrame({"operator": ["step total"], "decode_s": [rows["decode_s"].sum()],
                          "verify_s": [rows["verify_s"].sum()], "bound": [""]})
    rows = pd.concat([rows, total], ignore_index=True)
    ratio = [f"{v / d:.2f}×" if d > 0 else "only in verify" for d, v in zip(rows["decode_s"], rows["verify_s"])]
    return rows.assign(ratio=ratio)[["operator", "decode_s", "verify_s", "ratio", "bound"]]


PAPER_MODEL, PAPER_DEVICE = "llama-7b", "a100-80gb-sxm"  # Medusa's experiments: Vicuna-7B (Llama) on A100s


def paper_setting(seq_len: int) -> tuple:
    """The workload of the paper's setting (Llama-7B, the default tree) at the report's context, held within
    Llama-7B's own: a verify step at s cached positions scores s − 1 + n of them, so s ≤ limit − n + 1.
    Returns the workload and a sentence saying so when the report's context had to be cut ('' otherwise)."""
    from .models import load_model
    from .workload import Workload

    model = load_model(PAPER_MODEL)
    limit = model.max_position_embeddings - DEFAULT_TREE_SIZE + 1
    context = min(int(seq_len), limit)
    workload = Workload(batch=1, seq_len=context, tree_size=DEFAULT_TREE_SIZE, medusa_heads=DEFAULT_MEDUSA_HEADS)
    note = ("" if context == seq_len else
            f"{model.display_name}'s context holds {model.max_position_embeddings:,} positions, so this section runs "
            f"at {context:,} cached tokens (with the tree's {DEFAULT_TREE_SIZE} candidates, {context - 1 + DEFAULT_TREE_SIZE:,} "
            f"positions), not at the report's {int(seq_len):,}.")
    return workload, note
