"""Parameter count P and forward cost M of a model (the T5 paper's Table 2 columns), from its modules.

P counts every distinct parameter once (a shared encoder-decoder's shared blocks once, a tied head once).
M is forward matmul FLOPs per token: 2 per weight of every `nn.Linear` a token passes through, the output
head excluded (it is the same for every architecture of a vocabulary), attention scores (length-dependent)
excluded. An encoder-decoder runs its S input tokens through the encoder's linears and its T target tokens
through the decoder's (cross-attention K/V run on the S encoder outputs: counted as decoder weights, which is
exact when S = T); at the paper's S = T, per token of the example that is W_enc + W_dec. A single stack (the
LM, prefix LM, GPT-2, BERT) runs all S + T tokens through its W weights: 2·W per token. So, as in Table 2, the
shared encoder-decoder keeps the baseline's M with about half its P, half depth halves both, and an LM of the
encoder's depth costs 2·W_enc per token against the baseline's W_enc + W_dec (the paper's "M" for both
ignores the decoder's cross-attention).
"""

from __future__ import annotations

from typing import Any

from torch import nn

HEAD_NAMES = ("lm_head",)


def linear_weights(modules: nn.Module | list[nn.Module]) -> int:
    """Weights of every nn.Linear inside `modules`, counted per use (a module reached twice counts twice)."""
    roots = modules if isinstance(modules, list) else [modules]
    return sum(m.weight.numel() for root in roots for m in root.modules() if isinstance(m, nn.Linear))


def _embedding_params(model: nn.Module) -> int:
    """Distinct token-embedding and output-head weights (vocabulary-sized tables)."""
    vocab = getattr(model.config, "vocab_size", None)
    seen = {id(p): p.numel() for name, m in model.named_modules() for p in m.parameters(recurse=False)
            if (isinstance(m, nn.Embedding) and m.num_embeddings == vocab) or name in HEAD_NAMES}
    return sum(seen.values())


def model_cost(model: nn.Module) -> dict[str, Any]:
    """{"params", "params_non_embedding", "flops_per_token", "flops_rule"} of a t5eval model (see module doc)."""
    members = getattr(model, "members", None)
    if members is not None:  # an ensemble: every member runs on every token
        costs = [model_cost(m) for m in members]
        return {k: sum(c[k] for c in costs) for k in ("params", "params_non_embedding", "flops_per_token")} | {
            "flops_rule": f"ensemble of {len(costs)}: the members' sums ({costs[0]['flops_rule']})"}
    params = sum(p.numel() for p in model.parameters())  # parameters() yields a shared tensor once
    encoder, decoder = getattr(model, "encoder_layers", None), getattr(model, "decoder_layers", None)
    if encoder is not None and decoder is not None:
        flops = linear_weights(list(encoder)) + linear_weights(list(decoder))
        rule = "encoder-decoder: W_enc + W_dec per token of an example with as many input as target tokens"
    else:
        head = sum(m.weight.numel() for name, m in model.named_modules()
                   if name in HEAD_NAMES and isinstance(m, nn.Linear))
        flops = 2 * (linear_weights(model) - head)
        rule = "single stack: 2 x W per token (inputs and targets both pass the stack)"
    return {"params": params, "params_non_embedding": params - _embedding_params(model), "flops_per_token": flops,
            "flops_rule": rule}


def cost_line(cost: dict[str, Any]) -> str:
    """P and M (`model_cost`) as the one log line `pretrain` and `run` print."""
    return (f"model: {cost['params']:,} parameters ({cost['params_non_embedding']:,} outside the embedding), "
            f"{cost['flops_per_token']:,} forward FLOPs per token")
