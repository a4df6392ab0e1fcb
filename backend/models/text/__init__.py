"""Text side of text-to-motion: a frozen offline sentence encoder with an embedding cache, and a deterministic
paraphraser for the corpus's terse labels. See :mod:`.encoder` and :mod:`.augment`."""
from .augment import mirror_text, paraphrases
from .encoder import EMBED_DIM, ENCODER_NAME, TextEncoder, default_encoder

__all__ = ["EMBED_DIM", "ENCODER_NAME", "TextEncoder", "default_encoder", "mirror_text", "paraphrases"]
