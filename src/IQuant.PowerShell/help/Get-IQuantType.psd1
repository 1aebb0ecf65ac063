@{
    Synopsis    = 'Lists the ggml tensor types IQuant reads and writes, with bits per weight, block geometry and fallbacks.'
    Description = @'
Get-IQuantType emits one IQuant.IQuantTypeInfo per type: name, ik_llama.cpp type id, bits per weight (without row meta), block size, bytes per block, per-row meta bytes (the row scale of the KS types), whether rows must be a multiple of 256, the type llama-quantize falls back to when they are not, and whether IQuant can quantize to it or only read it.

By default only the types IQuant supports are listed; -All lists every type id ik_llama.cpp defines.
'@
    Parameters  = @{
        Name = 'Type names to show; wildcards are allowed (e.g. ''IQ*_KS''). Both the enum name (IQ4_KS) and the ggml name (iq4_ks) match.'
        All  = 'Also list the types IQuant knows by id but cannot read or write (interleaved _R4/_R8 layouts, trellis types, activation types).'
    }
    Examples    = @(
        @{ Title = 'What can IQuant write, smallest first?'; Code = 'Get-IQuantType | Where-Object CanQuantize | Sort-Object Bpw'; Remarks = '' }
        @{ Title = 'The KS family'; Code = "Get-IQuantType 'IQ*_KS'"; Remarks = '' }
    )
    Links       = @('ConvertTo-IQuant', 'Get-GgufTensor')
}
