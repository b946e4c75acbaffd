"""The classifier's heads, one per module behind :class:`~semsearch.classify.heads.base.Head`:

- :mod:`.dense`: logistic regression on the frozen encoder's pooled vector;
- :mod:`.hybrid`: a linear SVM on that vector beside hashed TF-IDF of the text's words;
- :mod:`.finetuned`: the encoder's top layers and a linear head, trained together.
"""
