"""The T5 paper's decoder-only architectures (Raffel et al., Table 2): a language model (`lm`, causal) and a
prefix LM (`prefix-lm`: fully visible attention over the inputs, causal over the targets), built from T5's
own layers (`t5eval.model.layers` RMSNorm, relative position bias, attention, feed-forward; T5's
`EncoderLayer` block). A text-to-text example is one sequence `inputs EOS targets EOS`; the loss is on the
targets only and decoding continues after the inputs.
"""
