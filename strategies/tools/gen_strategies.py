# Generates the shipped MLP and GPT strategy files: python3 strategies/tools/gen_strategies.py strategies
import json, sys
out = sys.argv[1]
def dump(name, obj):
    with open(f"{out}/{name}", "w") as f:
        f.write(json.dumps(obj, indent=2) + "\n")

# 1. data-parallel MLP
dump("mlp-data-parallel.json", {
  "network": {"zoo": "mlp", "args": {"widths": [256, 1024, 256], "batch": 64}},
  "devices": 8,
  "parallel": {"parallel_mode": "data_parallel", "gradients_mean": True},
})

# 2. Megatron GPT: tensor parallel 4 x data parallel 2 on 8 devices (as HandPlans.megatronGpt in Java)
def megatron(layers, dp, mp, sp=False):
    r = dp * mp if sp else dp  # the token-row split of LayerNorms and residuals (sp: sequence parallel)
    ops = {
      "embedding.lookup": {"in_strategy": [[1, 1], [dp, 1]]},
      "embedding.add_position": {"in_strategy": [[dp, 1, 1], [1, 1]]},
      "embedding.flatten": {"in_strategy": [[dp, 1, 1]]},
    }
    for i in range(layers):
        p = f"layers.{i}."
        ops.update({
          p + "ln1": {"in_strategy": [[r, 1], [1], [1]]},
          p + "attention.q": {"in_strategy": [[dp, 1], [1, mp]]},
          p + "attention.k": {"in_strategy": [[dp, 1], [1, mp]]},
          p + "attention.v": {"in_strategy": [[dp, 1], [1, mp]]},
          p + "attention.q_split": {"in_strategy": [[dp, mp]]},
          p + "attention.k_split": {"in_strategy": [[dp, mp]]},
          p + "attention.v_split": {"in_strategy": [[dp, mp]]},
          p + "attention.q_heads": {"in_strategy": [[dp, 1, mp, 1]]},
          p + "attention.k_heads": {"in_strategy": [[dp, 1, mp, 1]]},
          p + "attention.v_heads": {"in_strategy": [[dp, 1, mp, 1]]},
          p + "attention.scores": {"in_strategy": [[dp, mp, 1, 1], [dp, mp, 1, 1]]},
          p + "attention.scale_mul": {"in_strategy": [[dp, mp, 1, 1], [1]]},
          p + "attention.softmax": {"in_strategy": [[dp, mp, 1, 1]]},
          p + "attention.context": {"in_strategy": [[dp, mp, 1, 1], [dp, mp, 1, 1]]},
          p + "attention.merge_heads": {"in_strategy": [[dp, mp, 1, 1]]},
          p + "attention.flatten": {"in_strategy": [[dp, 1, mp, 1]]},
          p + "attention.out": {"in_strategy": [[dp, mp], [mp, 1]]},
          p + "residual1": {"in_strategy": [[r, 1], [r, 1]]},
          p + "ln2": {"in_strategy": [[r, 1], [1], [1]]},
          p + "ffn.fc1": {"in_strategy": [[dp, 1], [1, mp]]},
          p + "ffn.gelu": {"in_strategy": [[dp, mp]]},
          p + "ffn.fc2": {"in_strategy": [[dp, mp], [mp, 1]]},
          p + "residual2": {"in_strategy": [[r, 1], [r, 1]]},
        })
        if sp:
            # the row-parallel MatMuls reduce-scatter onto the token split instead of AllReducing
            ops[p + "attention.out"]["out_strategy"] = [[dp * mp, 1]]
            ops[p + "ffn.fc2"]["out_strategy"] = [[dp * mp, 1]]
    ops.update({
      "final_ln": {"in_strategy": [[r, 1], [1], [1]]},
      "head": {"in_strategy": [[dp, 1], [1, mp]]},
      "loss_fn": {"in_strategy": [[dp, 1], [dp, 1]]},
      "loss": {"in_strategy": [[dp]]},
    })
    return ops

gpt_args = {"layers": 2, "hidden": 64, "heads": 4, "seq": 16, "vocab": 128, "batch": 8}
dump("gpt-megatron-tp4-dp2.json", {
  "network": {"zoo": "gpt", "args": gpt_args},
  "devices": 8,
  "parallel": {"parallel_mode": "semi_auto_parallel",
               "dataset_strategy": [[2, 1], [2, 1]]},
  "operators": megatron(2, 2, 4),
})
dump("gpt-optimizer-parallel.json", {
  "network": {"zoo": "gpt", "args": gpt_args},
  "devices": 8,
  "parallel": {"parallel_mode": "semi_auto_parallel",
               "dataset_strategy": [[2, 1], [2, 1]],
               "enable_parallel_optimizer": True,
               "parallel_optimizer_config": {"parallel_optimizer_threshold": 1},
               "comm_fusion": {"allreduce": {"mode": "size", "config": 32},
                               "allgather": {"mode": "auto"}, "reducescatter": {"mode": "auto"}}},
  "operators": megatron(2, 2, 4),
  "parameters": {"layers.1.*": {"parallel_optimizer_comm_recompute": True, "comm_fusion": 2},
                 "embedding.*": {"parallel_optimizer": False}},
})

# 3. Megatron GPT with sequence parallelism: LayerNorms and residuals split over the token rows dp x mp ways,
#    the row-parallel MatMuls reduce-scatter onto that split (HandPlans.megatronGpt(c, dp, mp, true) in Java)
dump("gpt-megatron-sequence-parallel.json", {
  "network": {"zoo": "gpt", "args": gpt_args},
  "devices": 8,
  "parallel": {"parallel_mode": "semi_auto_parallel",
               "dataset_strategy": [[2, 1], [2, 1]]},
  "operators": megatron(2, 2, 4, sp=True),
})

# 4. Pipeline parallel: the 4-layer GPT in 2 stages of 8 devices (Megatron tp4 x dp2 inside each stage), 4
#    micro-batches per step; explicit stages: the embedding and layers 0-1 in stage 0, layers 2-3 and the head in
#    stage 1 (the cut carries one hidden state, layers.1.residual2)
gpt4_args = dict(gpt_args, layers=4)
dump("gpt-pipeline-2stages.json", {
  "network": {"zoo": "gpt", "args": gpt4_args},
  "devices": 16,
  "parallel": {"parallel_mode": "semi_auto_parallel",
               "dataset_strategy": [[2, 1], [2, 1]],
               "pipeline_stages": 2,
               "micro_batches": 4},
  "operators": megatron(4, 2, 4),
  "stages": {"embedding.*": 0, "layers.0.*": 0, "layers.1.*": 0, "layers.2.*": 1, "layers.3.*": 1,
             "final_ln": 1, "head": 1, "loss_fn": 1, "loss": 1},
})
