"""The downloadable .xlsx template of the one-row-per-question table (layout:
quizbank/importers/table_rows.py): the header, two example rows, and a sheet explaining each column."""

from __future__ import annotations

import io

from quizbank.importers.table_cells import ALLOWED_TYPE_TEXT, EN_HEADERS, ZH_HEADERS

# --- the downloadable template --------------------------------------------------------------------

_TEMPLATE = {
    "zh": {
        "sheet": "题目",
        "help_sheet": "说明",
        "headers": ZH_HEADERS,
        "examples": [
            {
                "题目": "1 + 1 = ?",
                "类型": "单选题",
                "答案": "B",
                "解析": "1 加 1 等于 2。",
                "选项A": "1",
                "选项B": "2",
                "选项C": "3",
                "选项D": "4",
                "分值": 2,
                "难度": "易",
                "知识点": "加法",
                "标签": "计算",
            },
            {
                "题目": "中国的首都是_____，最大的城市是_____。",
                "类型": "填空题",
                "答案": "北京|上海",
                "解析": "北京是首都，上海人口最多。",
                "分值": 2,
                "难度": "中",
                "知识点": "地理常识",
                "答案无顺序": "否",
                "区分大小写": "是",
            },
        ],
        "help_header": ["列名", "必填", "说明", "示例"],
        "help": [
            ("题目", "是", "题干，可以换行", "1 + 1 = ?"),
            ("类型", "是", "见下方“类型取值”；留空时按选项和答案推断", "单选题"),
            (
                "答案",
                "是",
                "选择题写选项字母（多选如 ACD）；判断题写 对/错；填空题每空之间用 | 或 ；分隔，"
                "同一空的备选答案用 / 分隔（如 山西/山西省|北京）；简答、论述写参考答案",
                "B",
            ),
            ("解析", "否", "答案解析", "1 加 1 等于 2。"),
            ("选项A…选项F", "选择题必填", "从 A 起连续填写；需要更多时可加 选项G、选项H…", "2"),
            ("分值", "否", "默认 1 分", "2"),
            ("漏选分", "否", "多选题选对但不全时的得分", "1"),
            ("难度", "否", "1–5，或 易/中/难（= 1/3/5），较易 = 2，较难 = 4", "易"),
            ("知识点", "否", "多个用 ， 或 ； 分隔", "加法"),
            ("标签", "否", "多个用 ， 或 ； 分隔", "计算"),
            ("科目", "否", "如 数学/函数；留空则用导入时选择的科目", "数学"),
            ("出处", "否", "试题来源", "2023 期中考试"),
            ("答案无顺序", "否", "填空题：是 = 各空答案可以互换位置（默认 否）", "否"),
            ("区分大小写", "否", "填空题、简答题：否 = 不区分大小写（默认 是）", "是"),
            ("每空分值", "否", "填空题每空的分数，用 | 分隔；不填则总分平均分给各空", "1|1"),
        ],
        "types_title": ("类型取值", "", "含义", ""),
        "types": [
            ("单选题", "", "一个正确选项", ""),
            ("多选题", "", "多个正确选项，可设漏选分", ""),
            ("判断题", "", "答案 对/错（√/×）", ""),
            ("填空题", "", "题干中用 _____ 表示空", ""),
            ("简答题", "", "问答题，人工或模型阅卷", ""),
            ("论述题", "", "论述作答，人工或模型阅卷", ""),
            ("分析题", "", "材料或案例分析，按论述题阅卷", ""),
            ("计算题", "", "写出计算过程，按论述题阅卷；只要数字结果时用数值题", ""),
            ("数值题", "", "答案为数字，如 3.14、3.14±0.01 或 1..5", ""),
            ("说明", "", "不计分的说明文字", ""),
        ],
    },
    "en": {
        "sheet": "questions",
        "help_sheet": "help",
        "headers": EN_HEADERS,
        "examples": [
            {
                "stem": "What is 1 + 1?",
                "type": "single",
                "answer": "B",
                "explanation": "One plus one is two.",
                "option_a": "1",
                "option_b": "2",
                "option_c": "3",
                "option_d": "4",
                "score": 2,
                "difficulty": "easy",
                "knowledge_points": "addition",
                "tags": "arithmetic",
            },
            {
                "stem": "The sun rises in the east.",
                "type": "true_false",
                "answer": "true",
                "explanation": "The Earth turns eastwards.",
                "score": 1,
                "difficulty": 1,
                "knowledge_points": "astronomy",
            },
        ],
        "help_header": ["column", "required", "meaning", "example"],
        "help": [
            ("stem", "yes", "the question text; may span lines", "What is 1 + 1?"),
            ("type", "yes", "see 'type values' below; inferred from options and answer when empty", "single"),
            (
                "answer",
                "yes",
                "choice: option letters (ACD for multiple); true_false: true/false; fill_blank: one "
                "answer per blank separated by |, alternatives by / (Paris/paris|Rome); short_answer "
                "and essay: the reference answer",
                "B",
            ),
            ("explanation", "no", "why the answer is right", "One plus one is two."),
            ("option_a…option_f", "for choices", "filled from A on; add option_g, option_h… for more", "2"),
            ("score", "no", "default 1", "2"),
            ("partial_score", "no", "multiple choice: the score for a correct but incomplete answer", "1"),
            ("difficulty", "no", "1–5, or easy/medium/hard (= 1/3/5)", "easy"),
            ("knowledge_points", "no", "several separated by , or ;", "addition"),
            ("tags", "no", "several separated by , or ;", "arithmetic"),
            ("subject", "no", "e.g. Maths/Functions; empty: the subject chosen at import", "Maths"),
            ("source", "no", "where the question comes from", "2023 midterm"),
            ("order_free", "no", "fill_blank: yes = the blanks' answers may come in any order (default no)", "no"),
            ("case_sensitive", "no", "fill_blank, short_answer: no = ignore upper/lower case (default yes)", "yes"),
            (
                "blank_scores",
                "no",
                "fill_blank: each blank's score separated by |; default: the score split evenly",
                "1|1",
            ),
        ],
        "types_title": ("type values", "", "meaning", ""),
        "types": [
            ("single", "", "one correct option", ""),
            ("multiple", "", "several correct options", ""),
            ("true_false", "", "answer true/false", ""),
            ("fill_blank", "", "blanks written _____ in the stem", ""),
            ("short_answer", "", "graded by a teacher or the model", ""),
            ("essay", "", "longer answers, graded by a teacher or the model", ""),
            ("numerical", "", "a number: 3.14, 3.14±0.01 or 1..5", ""),
            ("description", "", "text, not scored", ""),
        ],
    },
}


def build_template(language: str) -> bytes:
    """An .xlsx template: the header and two example rows, and a sheet explaining each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    spec = _TEMPLATE["en" if language == "en" else "zh"]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = spec["sheet"]
    headers = spec["headers"]
    sheet.append(headers)
    for example in spec["examples"]:
        sheet.append([example.get(header, "") for header in headers])
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["A"].width = 40
    sheet.column_dimensions["D"].width = 30
    type_names = [row[0] for row in spec["types"]]
    choices = DataValidation(type="list", formula1='"' + ",".join(type_names) + '"', allow_blank=True)
    choices.error = ALLOWED_TYPE_TEXT
    sheet.add_data_validation(choices)
    choices.add("B2:B10000")

    help_sheet = workbook.create_sheet(spec["help_sheet"])
    help_sheet.append(spec["help_header"])
    for row in spec["help"]:
        help_sheet.append(list(row))
    help_sheet.append([])
    help_sheet.append(list(spec["types_title"]))
    title_row = help_sheet.max_row
    for row in spec["types"]:
        help_sheet.append(list(row))
    for cell in [*help_sheet[1], *help_sheet[title_row]]:
        cell.font = bold
    for column, width in zip("ABCD", (18, 10, 70, 24), strict=True):
        help_sheet.column_dimensions[column].width = width
    for row in help_sheet.iter_rows(min_row=2):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
