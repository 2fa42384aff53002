"""The words of the customers' self-service page (`/help`) in Chinese and English, and
the few styles it adds to the console's stylesheet. The language comes from `?lang=`,
else the `lang` cookie the console uses, else the browser's Accept-Language."""

from __future__ import annotations

from services.edge.http.console import i18n

LANGUAGES = i18n.LANGUAGES
WORDS: dict[str, tuple[str, str]] = {  # key: (zh, en)
    "title": ("客户服务中心", "Customer help"),
    "switch": ("English", "中文"),
    "heading": ("有什么可以帮您？", "How can we help?"),
    "intro": (
        "请描述您遇到的问题。我们会先为您查找现成的解答；如果没有解决，再为您提交工单，"
        "客服人员会尽快回复。",
        "Describe your question. We first look for an answer in our help articles; if none "
        "solves it, we pass your request to our team, who will answer you.",
    ),
    "question": ("描述您的问题", "Describe your question"),
    "question_hint": (
        "例如：登录时一直提示密码错误",
        "For example: the app keeps saying my password is wrong",
    ),
    "name": ("您的称呼（选填）", "Your name (optional)"),
    "email": ("电子邮箱（选填，便于我们回复您）", "E-mail (optional, so that we can reply)"),
    "subject": ("标题（选填）", "Subject (optional)"),
    "ask": ("查找解答", "Find answers"),
    "your_question": ("您的问题", "Your question"),
    "found": ("这些文章也许能解答您的问题", "These articles may answer your question"),
    "found_one": ("这篇文章也许能解答您的问题", "This article may answer your question"),
    "solved": ("这解决了我的问题", "This solved my question"),
    "not_solved": ("没有解决", "Not solved"),
    "none_help": ("以上都没有帮助？提交工单", "None of these help: open a ticket"),
    "nothing_found_title": ("没有找到相关解答", "No article found"),
    "nothing_found": (
        "我们没有找到与您的问题相关的文章。您可以直接提交工单，客服人员会尽快回复。",
        "We found no article about your question. You can open a ticket directly; our "
        "team will answer you.",
    ),
    "open_ticket": ("提交工单", "Open a ticket"),
    "thanks_title": ("很高兴能帮到您", "Glad it helped"),
    "thanks": (
        "很高兴这篇文章解决了您的问题。没有为此创建工单。",
        "We are glad the article solved your question. No ticket was opened.",
    ),
    "ask_again": ("还有其他问题？", "Ask another question"),
    "sorry_title": ("抱歉没能帮到您", "Sorry that did not help"),
    "sorry": (
        "请确认下面的内容并提交工单，客服人员会尽快回复您。",
        "Check the request below and send it: our team will answer you.",
    ),
    "received_title": ("已收到您的请求", "Your request was received"),
    "received": (
        "客服人员会尽快处理并回复您。",
        "Our team will look into it and answer you.",
    ),
    "reference": ("参考编号：", "Reference: "),
    "reference_hint": (
        "工单号将在登记后生成。联系我们时，请提供此参考编号。",
        "The ticket number is given once the request is registered; quote this reference "
        "if you contact us.",
    ),
    "no_contact": (
        "您没有留下联系方式，如需回复，请通过其他渠道联系我们并提供参考编号。",
        "You left no contact details: to hear back, contact us another way and quote the "
        "reference.",
    ),
    # what the page refuses, and why
    "blank": ("请描述您的问题。", "Please describe your question."),
    "too_long": (
        "问题描述不能超过 {limit} 个字。",
        "Please keep your question within {limit} characters.",
    ),
    "bad_email": ("电子邮箱格式不正确。", "That e-mail address does not look right."),
    "long_contact": ("称呼或电子邮箱过长。", "The name or the e-mail address is too long."),
    "long_subject": ("标题过长。", "The subject is too long."),
    "rejected": ("请求未被接受：", "The request was not accepted: "),
    "problem_title": ("出了点问题", "Something went wrong"),
    "expired": (
        "表单已过期，或不是从本页面提交的，没有记录任何内容。请重新开始。",
        "This form has expired or was not sent from this page; nothing was recorded. "
        "Please start again.",
    ),
    "article_gone": (
        "这篇文章已不再提供（可能刚刚下线），没有记录您的反馈。您可以提交工单。",
        "This article is no longer offered (it may just have been withdrawn); nothing was "
        "recorded. You can open a ticket instead.",
    ),
    "not_recorded": (
        "暂时无法记录您的反馈，请稍后再试。",
        "We could not record your answer; please try again in a moment.",
    ),
    "unavailable": (
        "暂时无法提交您的请求，请稍后再试。",
        "We cannot take your request right now; please try again in a moment.",
    ),
    "start_again": ("重新开始", "Start again"),
}

STYLE = """/* the self-service page: what it adds to console.css */
main.help { max-width: 46rem; margin: 0 auto; padding: 1.5rem 1.2rem 3rem; }
main.help h1 { font-size: 1.6rem; margin: .6rem 0 .6rem; }
main.help .lead { color: var(--muted); margin: 0 0 1.2rem; }
main.help form.stack { max-width: none; margin: 0; }
main.help textarea, main.help input { width: 100%; color: var(--ink); }
main.help .pair { grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .5rem 1rem; }
main.help button { justify-self: start; padding: .45rem 1.1rem; }
main.help button.other { background: #fff; color: var(--accent); border-color: var(--accent); }
main.help .answer h2 { font-size: 1.15rem; margin: 0 0 .5rem; }
main.help .answer .value { margin: 0 0 .9rem; }
main.help .choices { display: flex; flex-wrap: wrap; gap: .6rem; }
main.help .asked { margin: 0 0 1.2rem; }
main.help .asked blockquote { margin: .3rem 0 0; }
main.help .reference { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
main.help details summary { font-size: 1rem; color: var(--accent); font-weight: 600; }
main.help details[open] summary { margin: 0 0 .8rem; }
main.help .problem { background: #fdeceb; border: 1px solid #f2c3bf; border-radius: 4px;
                     padding: .5rem .8rem; }
main.help .done { font-size: 1.05rem; }
main.help .card > :first-child { margin-top: 0; }
main.help .card > :last-child { margin-bottom: 0; }
"""


def words(lang: str, **values: object) -> dict[str, str]:
    """Every text of the page in one language, `{name}`s filled in from `values`."""
    index = LANGUAGES.index(lang)
    return {key: pair[index].format(**values) for key, pair in WORDS.items()}


def language(asked: str | None, cookie: str | None, accept_language: str | None) -> str:
    """`?lang=` when it names a language, else as the console picks (cookie, browser)."""
    if asked and asked in LANGUAGES:
        return asked
    return i18n.pick(cookie, accept_language)
