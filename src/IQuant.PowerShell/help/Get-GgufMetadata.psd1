@{
    Synopsis    = 'Lists the metadata entries (key, type, value) of GGUF files.'
    Description = @'
Get-GgufMetadata emits one IQuant.GgufMetadataEntry per key of each file, in file order, with the GGUF value type (UInt32, String, Array[String], ...) and the value as a .NET object (arrays as typed arrays). -Key filters with wildcards; -ValueOnly emits only the values, for scripts.
'@
    Parameters  = @{
        Path        = 'GGUF files to read. Wildcards are allowed. Accepts pipeline input.'
        LiteralPath = 'GGUF files to read, taken literally. Bound from the PSPath property of piped file objects.'
        Key         = 'Keys to show; wildcards are allowed (e.g. ''tokenizer.*''). Tab completion offers the keys of the file given by -Path. Default: every key.'
        ValueOnly   = 'Emit only the values of the matching keys instead of entry objects. Arrays are emitted as one object.'
    }
    Examples    = @(
        @{ Title = 'All general.* keys'; Code = "Get-GgufMetadata model.gguf -Key 'general.*'"; Remarks = '' }
        @{ Title = 'The context length, as a number'; Code = "Get-GgufMetadata model.gguf -Key '*.context_length' -ValueOnly"; Remarks = '' }
        @{ Title = 'How big is the vocabulary?'; Code = "(Get-GgufMetadata model.gguf -Key tokenizer.ggml.tokens).Count"; Remarks = 'Count is the number of array elements.' }
    )
    Links       = @('Get-GgufModel', 'Get-GgufTensor')
}
