"""Text tasks on the recurrent core: character and word language models, sentence
classification, sequence tagging and date normalization (docs/text.md).

    readers      text files (any script, any line ending) -> lines, blocks, labelled or tagged sentences
    tokenizers   CharTokenizer, WordTokenizer (the core Tokenizer interface), unknown-word shapes
    dates        the generated date pairs of the encoder-decoder task
    preprocess   `preprocess_text`: files -> corpus directory, per task
    train        `train_text`: classify, tag, dates and the numpy backend
    numpy_lm     the numpy reference RNN trained end to end
    inference    `generate_text`, `evaluate_text`, `predict`
    metrics      accuracy, F1, BIO entity F1, baselines
"""

from jazzgen.text.inference import evaluate_text, generate_text, predict
from jazzgen.text.preprocess import preprocess_text
from jazzgen.text.readers import read_text
from jazzgen.text.tokenizers import CharTokenizer, WordTokenizer
from jazzgen.text.train import train_text

__all__ = ["CharTokenizer", "WordTokenizer", "evaluate_text", "generate_text", "predict",
           "preprocess_text", "read_text", "train_text"]
