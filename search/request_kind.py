"""What kind of reply a request wants, read from its text (no model call):

- "answer": a question with one short answer that samples can be voted on (a quantity to
  compute, with its numbers in digits or words; a puzzle with numbers; a request for a boxed
  answer): the vote's path.
- "open": a reply with no single answer (an explanation, a piece of writing, advice, a summary,
  text under instructions such as "as a table" or "in French"): nothing to vote on, so samples
  are compared against the request's own instructions instead (search.strategies.open_ended).
- "mixed": a question for a quantity that also instructs the reply's form or asks for writing
  ("What is 17 * 23? Explain your reasoning in French."): both signals. Under instructions,
  numbers alone ("5 sections", "at least 3 times") belong to the form, not to an answer.

The rules read what a request instructs, not what it is about: an open-ended request tells the
model to produce something (an imperative such as "write" or "explain" opening a clause) or
constrains the reply's form ("at least 3 paragraphs", "in all lowercase"); a word problem states
facts and asks a question. A request for the bare answer ("the number only") is no instruction of
form here: it is honoured by showing the answer (asks_bare_answer).
"""

from __future__ import annotations

import re
from typing import Literal

RequestKind = Literal["answer", "open", "mixed"]

_NUMBER = re.compile(r"\d")
_ASKS_FOR_CODE = re.compile(r"\b(?:write|implement|complete|fix|debug|refactor)\b.{0,40}\b(?:code|function|class|"
                            r"program|script|method)\b|```|\bdef \w+\(", re.IGNORECASE | re.DOTALL)


def wants_program(question: str) -> bool:
    """Whether a program can compute this question's answer: a quantitative question with
    numbers in it, not a request for code (whose answer is the code itself) nor a long text."""
    return bool(_NUMBER.search(question)) and len(question) <= 4000 and not _ASKS_FOR_CODE.search(question)

# An imperative that asks for text, opening a sentence or a clause ("Please explain ...", "Can you write ...").
_PRODUCE = re.compile(
    r"(?:^|[.!?:;\n]\s*|\b(?:please|and|then|also|can you|could you|would you|i want you to|help me)\s+)"
    r"(?:write|compose|draft|explain|describe|discuss|summari[sz]e|translate|rewrite|paraphrase|list|"
    r"outline|suggest|recommend|give|tell me|create|generate|brainstorm|compare|argue|critique|"
    r"propose|imagine|pretend|act as|respond|reply|answer in|format)\b",
    re.IGNORECASE)
# Constraints on the reply's form, IFEval's classes among them.
_FORM = re.compile(
    r"\b(?:at least|at most|no more than|not more than|less than|fewer than|exactly|between \d+ and)\s+"
    r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|\w+)\s+"
    r"(?:words?|sentences?|paragraphs?|bullet points?|bullets?|sections?|placeholders?|highlighted)\b"
    r"|\b(?:in|into|using|use)\s+(?:\w+\s+)?(?:paragraphs?|bullet points?|markdown|json|a table|table format|"
    r"a numbered list|a list)\b"
    r"|\b(?:all\s+)?(?:lowercase|lower case|uppercase|upper case|capital letters|all caps)\b"
    r"|\b(?:title|postscript|p\.s\.|double quotes|quotation marks|highlight|placeholders?)\b"
    r"|\b(?:no|without|avoid|do not use)\s+(?:any\s+)?commas?\b"
    r"|\b(?:end|finish|start|begin)\s+(?:your\s+)?(?:response|reply|answer|it|the \w+)\s+with\b"
    r"|\bin (?:english|french|spanish|german|italian|portuguese|dutch|chinese|japanese|korean|russian|"
    r"arabic|hindi|turkish|swahili|hebrew|greek|polish|vietnamese|thai|bengali|urdu|persian)\b"
    r"|\bas a (?:table|list|poem|story|letter|haiku|json)\b"
    # A request that speaks of "your response" constrains it; a word problem never does.
    r"|\byour (?:entire |whole |full )?(?:response|reply)\b",
    re.IGNORECASE)
# A question for a quantity, with its numbers in words or digits ("How many colors ... in all?"), or an
# arithmetic expression.
_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|far|old|fast|often)\b|\bwhat (?:percentage|percent|fraction|number)\b|"
    r"\b(?:calculate|compute|solve|evaluate|simplify)\b|\d\s*[-+*/×÷^]\s*\(?\d",
    re.IGNORECASE)
# "Give the number only", "just the answer", "answer with a single word", "no explanation".
_BARE = re.compile(
    r"\b(?:(?:give|write|output|return|state|print|reply with|respond with|answer with)\s+)?"
    r"(?:the|your|final)\s+(?:final\s+)?(?:number|answer|result|value|word|name|letter|option)\s+only\b"
    r"|\bonly\s+(?:give|output|write|return|state|print|reply with|respond with|answer with|with)?\s*"
    r"(?:the\s+)?(?:final\s+)?(?:number|answer|result|value|numeric answer|numerical answer)\b"
    r"|\bjust\s+(?:give\s+)?(?:me\s+)?the\s+(?:final\s+)?(?:number|answer|result|value)\b"
    r"|\b(?:answer|reply|respond)\s+with\s+(?:a|one|only|just)\s+(?:a\s+)?(?:single\s+)?(?:number|word|letter)\b"
    r"|\b(?:no|without\s+(?:any\s+)?)\s*(?:explanation|working|steps|reasoning)\b"
    r"|\bnothing else\b",
    re.IGNORECASE)


def asks_bare_answer(question: str) -> bool:
    """Whether the request asks for the bare answer (a number, a word) without the working."""
    return bool(_BARE.search(question))


def request_kind(question: str) -> RequestKind:
    """The kind of reply `question` wants (the module docstring says how it is read)."""
    if not question.strip():
        return "answer"  # nothing to read: today's default, the vote
    text = _BARE.sub(" ", question)  # "the number only" asks for an answer's form, not for writing
    if "\\boxed" in question:
        return "answer"  # the client asks for an answer to extract, whatever else it says
    instructs = bool(_PRODUCE.search(text) or _FORM.search(text))
    asks_quantity = bool(_QUANTITY.search(question))
    if not instructs:
        return "answer" if asks_quantity or wants_program(question) else "open"
    # Under instructions, numbers alone ("5 sections", "at least 3 times") are the form's; a quantity asked for is not.
    return "mixed" if asks_quantity else "open"
