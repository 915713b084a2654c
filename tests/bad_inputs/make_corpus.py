"""Writes the bad-input corpus next to this file: `python tests/bad_inputs/make_corpus.py`.

Every sentence is written for this project (no corpus text). The files are committed; this script
documents their exact bytes (cp949, BOM, CRLF and missing final newlines are easy to lose in an
editor). The 1 MB line is not committed: tests/test_bad_inputs.py writes it with `long_line_file`.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def t(*cols: object) -> str:
    return "\t".join(map(str, cols))


def kmou_word_lines(*words: tuple[str, str, str]) -> list[str]:
    """(surface, POS, BIO) per morpheme; '_' separates words."""
    return [t(s, s, p, b) if s != "_" else t("_", "_", "_", b) for s, p, b in words]


def conllu_word(i: int, form: str, head: object, rel: str, lemma: str = "_", xpos: str = "_") -> str:
    return t(i, form, lemma, "_", xpos, "_", head, rel, "_", "_")


FILES: dict[str, bytes] = {}


def text(name: str, content: str, encoding: str = "utf-8", newline: str = "\n", bom: bool = False) -> None:
    FILES[name] = (b"\xef\xbb\xbf" if bom else b"") + content.replace("\n", newline).encode(encoding)


# ---------------------------------------------------------------- N21 (id, text, label)
N21 = "id\ttext\tlabel\n1\t배송이 빨라서 좋아요\tpositive\n2\t포장이 엉망이었어요\tnegative\n"
text("n21_cp949.tsv", N21, encoding="cp949")
text("n21_bom_crlf.tsv", N21 + "3\t다시 살게요\tpositive\n", newline="\r\n", bom=True)
text("n21_crlf_quoted.csv", 'id,text,label\n1,"좋아요, 정말\n두 줄 후기",positive\n2,별로예요,negative\n',
     newline="\r\n")
text("n21_empty.tsv", "")
text("n21_header_only.tsv", "id\ttext\tlabel\n")
text("n21_missing_column.tsv", "id\ttext\n1\t좋아요\n")
text("n21_field_count.tsv", N21 + "3\t색이 예뻐요\tpositive\t추가 칸\n4\t라벨이 없는 줄\n5\t튼튼해요\tpositive\n")
text("n21_field_count.csv", "id,text,label\n1,가볍고 좋아요,positive\n2,크기가 작아요, 아쉬워요,negative\n")
text("n21_empty_text.tsv", N21 + "3\t\tpositive\n4\t   \tnegative\n5\tNaN\tpositive\n6\tnull\tnegative\n"
     "7\t라벨이 빈 줄\t\n8\t괜찮아요\tpositive\n")
text("n21_unknown_label.tsv", N21 + "3\t그냥 그래요\tneutral\n")
text("n21_mixed_labels.jsonl", "\n".join([
    '{"id": 1, "text": "최고예요", "label": "2"}',
    '{"id": 2, "text": "또 살래요", "label": "2   "}',
    '{"id": 3, "text": "추천합니다", "label": 2}',
    '{"id": 4, "text": "만족해요", "label": 2.0}',
    '{"id": 5, "text": "별로예요", "label": "1"}',
]) + "\n")
text("n21_bad_json.jsonl", '{"id": 1, "text": "좋아요", "label": "positive"}\n{"id": 2, "text": "끊긴 줄\n'
     '[3, "배열", "negative"]\n{"id": 4, "text": "튼튼해요", "label": "positive"}\n')

# ---------------------------------------------------------------- Chatbot CSV (Q, A, label)
CHAT = "Q,A,label\n오늘 뭐 먹지?,따뜻한 국수 어때요.,0\n보고 싶다,마음이 전해질 거예요.,2\n"
text("chatbot_cp949.csv", CHAT, encoding="cp949")
text("chatbot_bom_crlf.csv", CHAT, newline="\r\n", bom=True)
text("chatbot_empty.csv", "")
text("chatbot_missing_column.csv", "Q,label\n오늘 뭐 먹지?,0\n")
text("chatbot_field_count.csv", CHAT + "비가 와,우산 챙기세요.,0,남는 칸\n답이 없어\n")
text("chatbot_empty_text.csv", CHAT + ",질문이 빈 줄이에요.,0\n답이 NaN인 줄,NaN,1\n")
text("chatbot_labels.csv", CHAT + "설레요,좋은 일 있나 봐요.,2   \n두근거려,멋진 하루 되세요.,2.0\n"
     "헤어졌어,시간이 약이에요.,3\n")

# ---------------------------------------------------------------- KMOU and 2016 KLP NER
KMOU_1 = ["## 1", "## 지수는 서울에 산다.", "## <지수:PER>는 <서울:LOC>에 산다.",
          *kmou_word_lines(("지수", "NNP", "B-PER"), ("는", "JX", "O"), ("_", "", "O"), ("서울", "NNP", "B-LOC"),
                           ("에", "JKB", "O"), ("_", "", "O"), ("산다", "VV", "O"), (".", "SF", "O"))]
KMOU_CUT = ["## 2", "## 민호는 어제 부산에서 친구를 만났다.", "## <민호:PER>는 <어제:DAT> <부산:LOC>에서 친구를 만났다.",
            *kmou_word_lines(("민호", "NNP", "B-PER"), ("는", "JX", "O"), ("_", "", "O"), ("어제", "NNG", "B-DAT"))]
text("kmou_cut.txt", "\n".join(KMOU_1) + "\n\n" + "\n".join(KMOU_CUT) + "\n")  # ends mid-sentence
text("kmou_missing_header.txt", "\n".join(KMOU_1) + "\n\n" + "\n".join([KMOU_CUT[0], KMOU_CUT[1], *KMOU_CUT[3:]])
     + "\n\n")
text("kmou_cp949.txt", "\n".join(KMOU_1) + "\n\n", encoding="cp949")
text("kmou_empty.txt", "")
KLP_1 = ["; 하늘이는 월요일에 광주로 떠났다.", "$<하늘이:PS>는 <월요일:DT>에 <광주:LC>로 떠났다.",
         t(1, "하늘이", "NNP", "B_PS"), t(1, "는", "JX", "O"), t(2, "월요일", "NNG", "B_DT"), t(2, "에", "JKB", "O"),
         t(3, "광주", "NNP", "B_LC"), t(3, "로", "JKB", "O"), t(4, "떠나", "VV", "O"), t(4, "았다", "EP+EF", "O")]
KLP_CUT = ["; 다은이는 오후 2시에 회의를 열었다.", "$<다은이:PS>는 <오후 2시:TI>에 회의를 열었다.",
           t(1, "다은이", "NNP", "B_PS"), t(1, "는", "JX", "O"), t(2, "오후", "NNG", "B_TI")]
text("klp_cut.txt", "\n".join(KLP_1) + "\n\n" + "\n".join(KLP_CUT) + "\n")
text("klp_bom_crlf.txt", "\n".join(KLP_1) + "\n\n", newline="\r\n", bom=True)

# ---------------------------------------------------------------- NER JSONL
text("ner_bad.jsonl", "\n".join([
    '{"id": "j1", "text": "지수는 서울에 산다.", "entities": [{"start": 0, "end": 2, "type": "PS"}]}',
    '{"id": "j2", "text": "끊긴 줄", "entities": [',
    '{"id": "j3", "text": "민호는 부산에 간다.", "entities": [{"start": 4, "end": 40, "type": "LC"}]}',
    '{"id": "j4", "text": "", "entities": []}',
]) + "\n")

# ---------------------------------------------------------------- CoNLL-U and KLUE-DP
GOOD = ["# sent_id = good-1", "# text = 아이가 공을 찼다.", conllu_word(1, "아이가", 3, "nsubj"),
        conllu_word(2, "공을", 3, "obj"), conllu_word(3, "찼다.", 0, "root")]
text("conllu_malformed.conllu", "\n".join([
    *GOOD, "",
    "# sent_id = nine-fields", "# text = 새가 난다.", conllu_word(1, "새가", 2, "nsubj"),
    t(2, "난다.", "_", "_", "_", "_", 0, "root", "_"), "",
    "# sent_id = bad-head", "# text = 꽃이 핀다.", conllu_word(1, "꽃이", "둘", "nsubj"), conllu_word(2, "핀다.", 0, "root"), "",
    "# sent_id = cycle", "# text = 비가 온다 많이.", conllu_word(1, "비가", 2, "nsubj"), conllu_word(2, "온다", 3, "root"),
    conllu_word(3, "많이.", 2, "advmod"), "",
    "# sent_id = two-roots", "# text = 해가 뜬다 달이 진다.", conllu_word(1, "해가", 2, "nsubj"),
    conllu_word(2, "뜬다", 0, "root"), conllu_word(3, "달이", 4, "nsubj"), conllu_word(4, "진다.", 0, "root"), "",
    "# sent_id = id-jump", "# text = 바람이 분다.", conllu_word(1, "바람이", 3, "nsubj"), conllu_word(3, "분다.", 0, "root"),
    "",
    "# sent_id = cut", "# text = 눈이 내린다.", conllu_word(1, "눈이", 2, "nsubj"),
]) + "\n")  # the last sentence is cut off: one of two words, no blank line after it
text("conllu_cp949.conllu", "\n".join(GOOD) + "\n\n", encoding="cp949")
text("conllu_empty.conllu", "")
text("klue_dp_malformed.tsv", "\n".join([
    "## 칼럼명 : INDEX\tWORD_FORM\tLEMMA\tPOS\tHEAD\tDEPREL",
    "## dp-1\t아이가 공을 찼다.", t(1, "아이가", "아이 가", "NNG+JKS", 3, "NP_SBJ"), t(2, "공을", "공 을", "NNG+JKO", 3, "NP_OBJ"),
    t(3, "찼다.", "차 았 다 .", "VV+EP+EF+SF", 0, "VP"), "",
    "## dp-2\t새가 난다.", t(1, "새가", "새 가", "NNG+JKS", 2), t(2, "난다.", "날 ㄴ다 .", "VV+EF+SF", 0, "VP"), "",
    "## dp-3\t꽃이 핀다.",
]) + "\n")  # dp-3 is a header cut off before its word lines

# ---------------------------------------------------------------- values that look "missing" but are written
# A hate-speech corpus's layout (comments, contain_gender_bias, bias, hate): `none` is a class; "NA" and "-"
# are comments someone wrote. Only the empty label (line 7) is missing.
text("n21_none_class.tsv", "\n".join([
    t("comments", "contain_gender_bias", "bias", "hate"),
    t("배우 연기가 자연스러워서 좋았어요", "False", "none", "none"),
    t("기사 제목 좀 제대로 달아라", "False", "none", "offensive"),
    t("여자가 무슨 운전을 한다고", "True", "gender", "hate"),
    t("NA", "False", "none", "none"),
    t("-", "False", "others", "offensive"),
    t("라벨이 빈 댓글이에요", "False", "none", ""),
]) + "\n")
text("n21_missing_like.jsonl", "\n".join([
    '{"id": "a", "text": "null", "label": "NULL"}',
    '{"id": "b", "text": "N/A", "label": "nan"}',
    '{"id": "c", "text": "괜찮아요", "label": "-"}',
    '{"id": "d", "text": "라벨이 null인 줄", "label": null}',
    '{"id": "e", "text": null, "label": "none"}',
]) + "\n")
text("chatbot_missing_like.csv", "Q,A,label\n뭐라고 할까?,none,0\nNA,NULL,0\n대답이 대시인 줄,-,1\n답이 없는 줄,,2\n")
CONLLU_WORDS = ["# sent_id = words-1", "# text = none NA - null", conllu_word(1, "none", 4, "dep"),
                conllu_word(2, "NA", 4, "dep"), conllu_word(3, "-", 4, "punct"), conllu_word(4, "null", 0, "root")]
text("conllu_missing_like.conllu", "\n".join(CONLLU_WORDS) + "\n\n")

# ---------------------------------------------------------------- files without a header line
# 3i4k's layout, `label<TAB>utterance`: line 3 has a stray third field; line 5 is blank.
text("n21_headerless.tsv", "0\t내일 비 온대\n2\t몇 시에 만날까\n3\t창문 좀 닫아 줘\t여분 칸\n1\t오늘은 일찍 잘게\n\n"
     "3\t불 꺼 줄래\n")
text("n2m_headerless.tsv", "배고파\t밥 먹으러 가요.\n심심해\t산책 어때요?\n답이 없는 줄\n졸려\t잠깐 쉬어요.\n")

# ---------------------------------------------------------------- an unclosed double quote
# Row 10 opens a quote that never closes: a CSV reader merges every later line into that one field.
QUOTE_ROWS = [f"{i},{'택배가 빨리 왔어요' if i % 2 else '포장이 찢어져 왔어요'},{'positive' if i % 2 else 'negative'}"
              for i in range(1, 101)]
QUOTE_ROWS[9] = '10,"정말 좋아요 최고,positive'
text("n21_unclosed_quote.csv", "id,text,label\n" + "\n".join(QUOTE_ROWS) + "\n")
text("chatbot_unclosed_quote.csv", CHAT + '잘 자,"좋은 꿈 꾸세요.,0\n' +
     "".join(f"질문 {i}이에요,대답 {i}이에요.,0\n" for i in range(1, 31)))

# ---------------------------------------------------------------- JSON values that are not one text
text("n21_nested.jsonl", "\n".join([
    '{"id": 1, "text": "정수 아이디예요", "label": "positive"}',
    '{"id": 2, "text": {"ko": "객체인 텍스트"}, "label": "positive"}',
    '{"id": 3, "text": "목록인 라벨", "label": ["positive", "negative"]}',
    '{"id": {"n": 4}, "text": "객체인 아이디", "label": "negative"}',
    '{"id": 5, "text": "쓰지 않는 키의 목록", "label": "negative", "tags": ["a"]}',
]) + "\n")
text("n2m_nested.jsonl", "\n".join([
    '{"question": "안녕?", "answer": "반가워요.", "label": 0}',
    '{"question": {"ko": "객체인 질문"}, "answer": "대답이에요."}',
    '{"question": "목록인 라벨", "answer": "대답이에요.", "label": ["0", "1"]}',
]) + "\n")
text("ner_ids.jsonl", "\n".join([
    '{"id": 7, "text": "지수는 서울에 산다.", "entities": [{"start": 0, "end": 2, "type": "PS"}]}',
    '{"id": {"doc": 8}, "text": "민호는 부산에 간다.", "entities": []}',
    '{"id": ["9"], "text": "하늘이 맑다.", "entities": []}',
    '{"id": null, "text": "null", "entities": []}',
    '{"id": 11.0, "text": "none", "entities": []}',
]) + "\n")

# ---------------------------------------------------------------- text validation must see
# Emoji-only pairs: no letter, so no Korean text. A NUL byte inside a word, while `# text` is clean.
text("chatbot_emoji.csv", "Q,A,label\n" + "".join(f"{q},{a},0\n" for q, a in [
    ("😀", "😀😀"), ("👍👍", "🙏"), ("🎉", "🥳🥳"), ("😢", "🫂"), ("🍕?", "🍔!"), ("❤️", "💕")]))
text("conllu_nul_word.conllu", "\n".join([
    "# sent_id = nul-1", "# text = 아이가 공을 찼다.", conllu_word(1, "아이가", 3, "nsubj"),
    conllu_word(2, "공\x00을", 3, "obj"), conllu_word(3, "찼다.", 0, "root")]) + "\n\n")

# ---------------------------------------------------------------- every row quarantined
text("n21_all_quarantined.tsv", "id\ttext\tlabel\n1\t라벨이 없어요\t\n2\t이것도 없어요\t\n3\t\tpositive\n")
text("chatbot_all_quarantined.csv", "Q,A,label\n대답이 없어요,,0\n이것도 없어요,,0\n")
text("ner_all_quarantined.jsonl", '{"id": "a", "text": "끊긴 줄", "entities": [\n{"id": "b", "text": "범위 밖", '
     '"entities": [{"start": 0, "end": 40, "type": "PS"}]}\n')
text("conllu_all_quarantined.conllu", "\n".join([
    "# sent_id = r1", "# text = 새가 난다.", conllu_word(1, "새가", 2, "nsubj"), conllu_word(2, "난다.", 1, "root"), "",
    "# sent_id = r2", "# text = 꽃이 핀다.", conllu_word(1, "꽃이", 2, "nsubj"), conllu_word(2, "핀다.", 1, "root"),
]) + "\n\n")

# ---------------------------------------------------------------- params.yaml
text("params_unknown_key.yaml", "n21:\n  train:\n    epoch: 5          # typo for epochs\n")
text("params_wrong_type.yaml", "n21:\n  train:\n    lr: fast\n  tokenize:\n    join_pos: \"yes\"\n")


if __name__ == "__main__":
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(FILES)} files to {HERE}")
