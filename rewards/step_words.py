"""The words around numbers that the arithmetic checks (rewards.step_runs, rewards.step_checks)
know: words before or after a number that change it, words that end a unit phrase, and units with
their exact sizes."""

from __future__ import annotations

from fractions import Fraction

# Words before a number that change it, or stand for an operator this checker does not read
# in that place: "sqrt 16 + 1", "half of 16 + 2", "3 less than 5 * 4", "x * 5 + 3".
PREFIX_WORDS = frozenset({
    "sqrt", "root", "square", "cube", "log", "ln", "sin", "cos", "tan", "exp", "half", "twice", "double",
    "triple", "thrice", "quadruple", "third", "quarter", "fourth", "fifth", "average", "mean", "median",
    "reciprocal", "inverse", "negative", "than", "over", "power", "times", "mod", "modulo",
})
# Words after a number that operate on it ("4 squared + 1"): the run is not plain arithmetic.
# Clock times ("11am + 2") add modulo 12: not plain arithmetic either.
POSTFIX_WORDS = frozenset({"squared", "cubed", "factorial", "doubled", "tripled", "halved", "am", "pm"})
# Words that end a unit phrase: what follows is a new clause, not the number's unit.
STOP_WORDS = frozenset({
    "and", "or", "but", "so", "then", "thus", "hence", "therefore", "which", "that", "while", "because",
    "since", "if", "is", "are", "was", "were", "be", "will", "would", "gives", "give", "makes", "make",
    "becomes", "yields", "leaves", "i", "we", "he", "she", "they", "it", "you", "this", "there",
})

# Units whose sizes are exact, in one base per dimension (mm, g, mL, s, cents); None: no fixed size.
# A run that mixes two units of one dimension ("4 hours + 90 minutes") is not plain arithmetic, and a
# result stated in another unit of the expression's dimension ("2 * 45 minutes = 1.5 hours") is
# compared after converting.
UNIT_SIZES: dict[str, tuple[str, Fraction | None]] = {
    "second": ("time", Fraction(1)), "minute": ("time", Fraction(60)), "hour": ("time", Fraction(3600)),
    "day": ("time", Fraction(86400)), "week": ("time", Fraction(604800)), "month": ("time", None),
    "year": ("time", None),
    "millimeter": ("length", Fraction(1)), "centimeter": ("length", Fraction(10)),
    "meter": ("length", Fraction(1000)), "kilometer": ("length", Fraction(10**6)),
    "inch": ("length", Fraction(127, 5)), "foot": ("length", Fraction(1524, 5)),
    "yard": ("length", Fraction(4572, 5)), "mile": ("length", Fraction(8046720, 5)),
    "gram": ("mass", Fraction(1)), "kilogram": ("mass", Fraction(1000)),
    "pound": ("mass", Fraction(45359237, 100000)), "ounce": ("mass", Fraction(45359237, 1600000)),
    "milliliter": ("volume", Fraction(1)), "liter": ("volume", Fraction(1000)),
    "gallon": ("volume", Fraction(3785411784, 1000000)), "quart": ("volume", Fraction(3785411784, 4000000)),
    "pint": ("volume", Fraction(3785411784, 8000000)), "cup": ("volume", Fraction(3785411784, 16000000)),
    "cent": ("money", Fraction(1)), "dollar": ("money", Fraction(100)),
}
_UNIT_SPELLINGS = {
    "second": "second seconds sec secs", "minute": "minute minutes min mins", "hour": "hour hours hr hrs",
    "day": "day days", "week": "week weeks wk wks", "month": "month months", "year": "year years yr yrs",
    "millimeter": "millimeter millimeters millimetre millimetres mm", "centimeter": "centimeter centimeters "
    "centimetre centimetres cm", "meter": "meter meters metre metres", "kilometer": "kilometer kilometers "
    "kilometre kilometres km", "inch": "inch inches", "foot": "foot feet ft", "yard": "yard yards yd yds",
    "mile": "mile miles", "gram": "gram grams", "kilogram": "kilogram kilograms kg kgs",
    "pound": "pound pounds lb lbs", "ounce": "ounce ounces oz", "milliliter": "milliliter milliliters "
    "millilitre millilitres ml", "liter": "liter liters litre litres", "gallon": "gallon gallons gal",
    "quart": "quart quarts qt", "pint": "pint pints", "cup": "cup cups", "cent": "cent cents",
    "dollar": "dollar dollars",
}
UNITS = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings.split()}
