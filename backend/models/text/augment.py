"""Deterministic paraphrases of the corpus's motion descriptions, so models see varied phrasings.

CMU descriptions are terse ("walk", "dance - small jetes, pirouette", "basketball - forward dribble"); the other
sources have one short sentence and one label. :func:`paraphrases` turns one description into a fixed, ordered list
of phrasings built from a small hand-written lexicon (head word -> third person / gerund) and a few subject
templates ("a person walks", "someone is walking", "walking"). Nothing is invented beyond the description: the
details after a dash are kept verbatim. :func:`mirror_text` swaps left and right for mirrored training windows.
"""
from __future__ import annotations

import re

SUBJECTS = ("a person", "someone", "a man", "a woman", "the character")

# head phrase -> (third person, gerund). Heads are matched on the lower-cased text before " - " or the first comma.
LEXICON: dict[str, tuple[str, str]] = {
    "walk": ("walks forward", "walking forward"),
    "slow walk": ("walks slowly", "walking slowly"),
    "brisk walk": ("walks briskly", "walking briskly"),
    "walk on uneven terrain": ("walks on uneven terrain", "walking on uneven terrain"),
    "start walk stop": ("starts walking and then stops", "starting to walk and stopping"),
    "start hop stop": ("starts hopping and then stops", "starting to hop and stopping"),
    "stealthy walk": ("walks stealthily", "sneaking forward"),
    "zombie walk": ("walks like a zombie", "walking like a zombie"),
    "walk and jump": ("walks and jumps", "walking and jumping"),
    "run": ("runs forward", "running forward"),
    "run/jog": ("jogs forward", "jogging forward"),
    "jog": ("jogs", "jogging"),
    "running jump": ("runs and jumps", "doing a running jump"),
    "jump": ("jumps", "jumping"),
    "punch/strike": ("punches and strikes", "punching"),
    "punch": ("punches", "punching"),
    "kick": ("kicks", "kicking"),
    "spin kick": ("spins and kicks", "doing a spin kick"),
    "swordplay": ("fights with a sword", "sword fighting"),
    "sword slash": ("slashes with a sword", "slashing with a sword"),
    "wash self": ("washes themself", "washing themself"),
    "bend over": ("bends over", "bending over"),
    "dance": ("dances", "dancing"),
    "dance spin": ("dances and spins", "dancing and spinning"),
    "basketball": ("plays basketball", "playing basketball"),
    "playground": ("plays on a playground", "playing on a playground"),
    "backflip": ("does a backflip", "doing a backflip"),
    "side flip": ("does a side flip", "doing a side flip"),
    "cartwheel": ("does a cartwheel", "doing a cartwheel"),
    "cartwheels": ("does cartwheels", "doing cartwheels"),
    "crawl": ("crawls on hands and knees", "crawling"),
    "roll": ("rolls forward on the ground", "rolling on the ground"),
    "spin": ("spins around", "spinning around"),
    "death": ("is hit and falls down", "falling to the ground"),
    "get up from the ground": ("gets up from the ground", "getting up from the ground"),
    "idle": ("stands idle", "standing still"),
    "sitting": ("sits down", "sitting"),
    "standing up": ("stands up", "standing up"),
    "thumbs up": ("gives a thumbs up", "giving a thumbs up"),
    "wave": ("waves", "waving"),
    "clapping": ("claps their hands", "clapping"),
    "yes": ("nods yes", "nodding yes"),
    "no": ("shakes their head no", "shaking their head"),
}

_SENTENCE = re.compile(r"^(a person|someone|a man|a woman|the person|the character|a character)\s+(.+)$")


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".")


def paraphrases(text: str) -> list[str]:
    """Ordered, duplicate-free phrasings of ``text`` (the original first). Same input, same output."""
    original = text.strip()
    t = _clean(text)
    out = [original]
    m = _SENTENCE.match(t)
    if m:  # already a sentence: vary the subject, and add the bare verb phrase
        vp = m.group(2)
        out += [f"{s} {vp}" for s in SUBJECTS] + [vp]
    else:
        head, details = t, ""
        if " - " in t:
            head, details = (p.strip() for p in t.split(" - ", 1))
        elif t not in LEXICON and "," in t:
            head, details = (p.strip() for p in t.split(",", 1))
        if head not in LEXICON:  # unknown head: keep the words verbatim, in a neutral frame
            return _unique(out + [f"{s}: {t}" for s in SUBJECTS[:2]] + [t])
        third, gerund = LEXICON[head]
        tail = f": {details}" if details else ""
        out += [f"{s} {third}{tail}" for s in SUBJECTS[:3]]
        out += [f"{s} is {gerund}{tail}" for s in SUBJECTS[1:4]]
        out += [f"{gerund}{tail}"]
        if details:
            out += [f"a person {third}, {details}"]
    return _unique(out)


def _unique(items: list[str]) -> list[str]:
    seen, uniq = set(), []
    for p in items:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


_LR = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def mirror_text(text: str) -> str:
    """Swap the words left and right (keeps capitalisation of the first letter)."""
    def swap(m):
        w = m.group(0)
        r = "right" if w.lower() == "left" else "left"
        return r.capitalize() if w[0].isupper() else r
    return _LR.sub(swap, text)
