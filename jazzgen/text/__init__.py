"""Text tasks on the recurrent core: character and word language models, sentence
classification, sequence tagging and date normalization (docs/text.md).

    readers      text files (any script, any line ending) -> lines, blocks, labelled or tagged sentences
    tokenizers   CharTokenizer, WordTokenizer (the core Tokenizer interface), unknown-word shapes
    dates        the generated date pairs of the encoder-decoder task
    preprocess   `preprocess_text`: files -> corpus directory, per task
    train        the training plans: windows (chars, words), labels (classify, tag), pairs (dates)
    inference    what using a run needs in common: its corpus, held-out pieces, sample output
    lm           language models: samples, held-out scoring, the probability of a sentence
    labels       classify and tag: label probabilities, evaluation, predict
    translate    dates: greedy translation and its evaluation
    metrics      accuracy, F1, BIO entity F1, baselines

The task objects that connect these to the stages are in `jazzgen.tasks.text`.
"""
