"""ChatTemplate: the built-in ChatML, a Hugging Face-style template, and continuing a partial assistant turn."""

from __future__ import annotations

import pytest
from jinja2 import TemplateError

from backends.chat_template import CHATML_TEMPLATE, ChatTemplate

CONVERSATION = [
    {"role": "system", "content": "Solve step by step."},
    {"role": "user", "content": "What is 17 * 3?"},
]

# The shape of a Hugging Face template: bos, a guard, whitespace-controlled blocks, eos after each turn.
HF_STYLE = """{{- bos_token -}}
{% for message in messages %}
    {% if message['role'] not in ['system', 'user', 'assistant'] %}
        {{- raise_exception('unknown role ' + message['role']) -}}
    {% endif %}
    {{- '[' + message['role'] | upper + '] ' + message['content'] | trim + eos_token -}}
{% endfor %}
{% if add_generation_prompt %}
    {{- '[ASSISTANT] ' -}}
{% endif %}
"""


def test_chatml_renders_turns_and_the_generation_prompt():
    text = ChatTemplate(CHATML_TEMPLATE).render(CONVERSATION)
    assert text == ("<|im_start|>system\nSolve step by step.<|im_end|>\n"
                    "<|im_start|>user\nWhat is 17 * 3?<|im_end|>\n<|im_start|>assistant\n")


def test_chatml_without_generation_prompt_ends_after_the_last_turn():
    assert ChatTemplate(CHATML_TEMPLATE).render(CONVERSATION, add_generation_prompt=False).endswith("?<|im_end|>\n")


@pytest.mark.parametrize("template", [CHATML_TEMPLATE, HF_STYLE])
def test_a_partial_assistant_message_is_continued_byte_for_byte(template):
    chat = ChatTemplate(template, bos_token="<s>", eos_token="</s>")
    short = chat.render([*CONVERSATION, {"role": "assistant", "content": "abc"}], add_generation_prompt=False)
    longer = chat.render([*CONVERSATION, {"role": "assistant", "content": "abcdef"}], add_generation_prompt=False)
    assert short + "def" == longer
    assert longer.startswith(short) and short.endswith("abc")
    # The continuation extends the prompt a fresh assistant turn would get.
    assert short.startswith(chat.render(CONVERSATION).rstrip())


def test_partial_content_keeps_whitespace_the_template_would_trim():
    chat = ChatTemplate(HF_STYLE, eos_token="</s>")
    text = chat.render([*CONVERSATION, {"role": "assistant", "content": "Step 1: 17 * 3 = \n"}],
                       add_generation_prompt=False)
    assert text.endswith("[ASSISTANT] Step 1: 17 * 3 = \n")


def test_a_finished_assistant_turn_is_closed_when_a_generation_prompt_follows():
    chat = ChatTemplate(CHATML_TEMPLATE)
    text = chat.render([*CONVERSATION, {"role": "assistant", "content": "51"}], add_generation_prompt=True)
    assert text.endswith("51<|im_end|>\n<|im_start|>assistant\n")


def test_hf_globals_bos_eos_and_raise_exception():
    chat = ChatTemplate(HF_STYLE, bos_token="<s>", eos_token="</s>")
    assert chat.render(CONVERSATION) == "<s>[SYSTEM] Solve step by step.</s>[USER] What is 17 * 3?</s>[ASSISTANT] "
    with pytest.raises(TemplateError, match="unknown role tool"):
        chat.render([{"role": "tool", "content": "x"}])


def test_tojson_matches_transformers_and_does_not_escape_html():
    chat = ChatTemplate("{{ messages[0] | tojson }}")
    assert chat.render([{"role": "user", "content": "a < b & c"}]) == '{"role": "user", "content": "a < b & c"}'


def test_a_template_that_drops_assistant_turns_cannot_continue_one():
    chat = ChatTemplate("{% for m in messages if m['role'] != 'assistant' %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(TemplateError, match="cannot continue"):
        chat.render([*CONVERSATION, {"role": "assistant", "content": "x"}], add_generation_prompt=False)


def test_the_sandbox_refuses_unsafe_attribute_access():
    chat = ChatTemplate("{{ messages.__class__.__mro__ }}")
    with pytest.raises(TemplateError):
        chat.render(CONVERSATION)
