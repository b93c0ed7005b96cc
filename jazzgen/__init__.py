"""jazzgen: learn jazz improvisation from transcriptions and play new solos over chord changes.

The Python API mirrors the command line (each command calls the function of the same name):

    import jazzgen
    song = jazzgen.generate(chords="|: Dm7 | G7 | Cmaj7 | % :|", bars=16, seed=3)
    song.write_midi("solo.mid")

`generate`, `generate_many`, `read_chart`, `tunes`, `preprocess`, `train` and `evaluate` are
documented in `jazzgen.api`; importing jazzgen loads neither TensorFlow nor music21.
"""

from jazzgen.api import evaluate, generate, generate_many, preprocess, read_chart, train, tunes

__version__ = "0.1.0"
__all__ = ["evaluate", "generate", "generate_many", "preprocess", "read_chart", "train", "tunes", "__version__"]
