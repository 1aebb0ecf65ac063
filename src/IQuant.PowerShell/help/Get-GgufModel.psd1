@{
    Synopsis    = 'Shows the header and a summary of GGUF model files.'
    Description = @'
Get-GgufModel opens each GGUF file (version 2 or 3) through a memory map, reads only its header, and emits one IQuant.GgufModel per model: architecture, name, parameter count, file size, tensor count, llama.cpp file type (general.file_type, e.g. IQ4_KS), bits per weight, context length, the tensor count per type, and all metadata.

A split model (name-00001-of-00003.gguf) is opened through its first shard and reported as one model. A malformed file gives a non-terminating error whose ErrorId names the problem (GgufBadMagic, GgufTruncated, ...) and whose message names the offending offset or value.
'@
    Parameters  = @{
        Path        = 'GGUF files to read. Wildcards are allowed; PSDrive-relative paths work. Accepts pipeline input, e.g. from Get-ChildItem *.gguf.'
        LiteralPath = 'GGUF files to read, taken literally (no wildcard expansion). Bound from the PSPath property of piped file objects.'
    }
    Examples    = @(
        @{ Title = 'Summarise one model'; Code = 'Get-GgufModel ./models/iquant-demo-f16.gguf | Format-List'; Remarks = 'Shows architecture, parameters, file type, bpw and context length of the demo model.' }
        @{ Title = 'Compare every model in a folder'; Code = 'Get-ChildItem *.gguf | Get-GgufModel | Sort-Object Bpw | Format-Table Name, FileType, Bpw, FileSize'; Remarks = 'Piped file objects bind to -LiteralPath.' }
        @{ Title = 'Read one metadata value'; Code = "(Get-GgufModel model.gguf).Metadata['tokenizer.ggml.model']"; Remarks = 'Metadata is an ordered dictionary of every key in the file.' }
    )
    Links       = @('Get-GgufTensor', 'Get-GgufMetadata', 'Get-IQuantType')
}
