@{
    Synopsis    = 'Tokenizes text with the vocabulary of a GGUF file and emits the token ids and pieces.'
    Description = @'
Get-IQuantToken builds the tokenizer that llama.cpp would build from a GGUF file's tokenizer.* metadata. It supports SentencePiece vocabularies (tokenizer.ggml.model = llama) and byte-level BPE (gpt2, with the pre-tokenizer named by tokenizer.ggml.pre). It then tokenizes each -Text. Any GGUF that carries a vocabulary works, including vocab-only files without weights.

Each token is emitted as an IQuant.IQuantToken: Index, Id, Piece (the text the token decodes to), Text (the vocabulary entry as stored, e.g. ▁world or <0x0A>) and Type (Normal, Control, UserDefined, Byte, Unknown, Unused). -Count emits only the number of tokens per text.

BOS is added when the model says so (tokenizer.ggml.add_bos_token, else the vocabulary type's default), as llama.cpp does. -AddBos or -AddBos:$false overrides that. Special-token text such as <|im_start|> or <s> in the input becomes the special token, as with llama-tokenize. -NoParseSpecial treats such text as plain text.

Tokenizers are cached for the session, keyed by file path, time and size.
'@
    Parameters  = @{
        Model          = 'The GGUF file whose vocabulary is used: a model or a vocab-only file. Wildcards are allowed if they match exactly one file.'
        Text           = 'The text to tokenize. Several strings, or strings from the pipeline, are tokenized one by one.'
        AddBos         = 'Add the BOS token (-AddBos) or not (-AddBos:$false). Default: as the model says.'
        NoParseSpecial = 'Tokenize special-token text (e.g. <|im_start|>) as plain text instead of as the special token.'
        Count          = 'Emit only the number of tokens of each text, as an integer.'
    }
    Examples    = @(
        @{ Title = 'Tokens of a phrase'; Code = "Get-IQuantToken -Model models/iquant-demo-f16.gguf -Text 'Hello world'"; Remarks = 'The first token is BOS (<s>), because the demo model adds it.' }
        @{ Title = 'How many tokens is a file?'; Code = "Get-IQuantToken model.gguf -Text (Get-Content -Raw book.txt) -Count -AddBos:`$false"; Remarks = '' }
        @{ Title = 'A vocab-only file'; Code = "'Hello world' | Get-IQuantToken ggml-vocab-llama-bpe.gguf | Format-Table Id, Piece, Type"; Remarks = '' }
    )
    Links       = @('Invoke-IQuantChat', 'Get-GgufMetadata')
}
