using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using IQuant.Core.Types;

namespace IQuant.Core.Gguf;

/// <summary>One opened GGUF file: its mapping and its parsed, validated header.</summary>
internal sealed unsafe class GgufShard : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    private const int MinKvBytes = 8 + 4 + 1;                 // empty key, type, 1-byte value
    private const int MinTensorInfoBytes = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, ne0, type, offset

    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private byte* _base;
    private bool _acquired;

    public string Path { get; }
    public int Index { get; }
    public long Length { get; }
    public uint Version { get; private set; }
    public int Alignment { get; private set; } = 32;
    public long DataOffset { get; private set; }
    public List<GgufMetadataEntry> Metadata { get; private set; } = [];
    public List<GgufTensorInfo> Tensors { get; private set; } = [];
    public byte* Base => _base;

    private GgufShard(string path, int index, long length)
    {
        Path = path;
        Index = index;
        Length = length;
    }

    /// <summary>Opens, maps and parses one file. <paramref name="names"/> collects tensor names over all shards.</summary>
    public static GgufShard Open(string path, int shardIndex, int firstTensorIndex, GgufReadOptions options,
        Dictionary<string, GgufTensorInfo> names)
    {
        if (Directory.Exists(path))
            throw new GgufFormatException(GgufErrorIds.NotAFile, path, null, $"'{path}' is a directory, not a GGUF file.");
        FileStream fs;
        try
        {
            fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GgufFormatException(GgufErrorIds.FileNotFound, path, null, $"GGUF file '{path}' was not found.", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new GgufFormatException(Directory.Exists(path) ? GgufErrorIds.NotAFile : GgufErrorIds.AccessDenied, path, null,
                $"Cannot open '{path}' for reading: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new GgufFormatException(GgufErrorIds.IOError, path, null, $"Cannot open '{path}': {e.Message}", e);
        }

        GgufShard? shard = null;
        try
        {
            long length;
            try { length = fs.Length; }
            catch (Exception e) when (e is IOException or NotSupportedException)
            {
                throw new GgufFormatException(GgufErrorIds.NotAFile, path, null, $"'{path}' is not a regular file: {e.Message}", e);
            }
            if (length == 0)
                throw new GgufFormatException(GgufErrorIds.EmptyFile, path, 0, $"'{path}' is empty (0 bytes); not a GGUF file.");
            shard = new GgufShard(path, shardIndex, length);
            try
            {
                shard._map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
                fs = null!; // owned by the mapping now
                shard._view = shard._map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                byte* p = null;
                shard._view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                shard._acquired = true;
                shard._base = p + shard._view.PointerOffset;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                throw new GgufFormatException(GgufErrorIds.IOError, path, null, $"Cannot map '{path}': {e.Message}", e);
            }
            new Parser(shard, options, names, firstTensorIndex).Parse();
            return shard;
        }
        catch
        {
            shard?.Dispose();
            fs?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_acquired)
        {
            _acquired = false;
            _base = null;
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view?.Dispose();
        _view = null;
        _map?.Dispose();
        _map = null;
    }

    /// <summary>Header parser over the mapped bytes. Every read is bounds-checked; every count and length is checked
    /// against the configured limits and the bytes left before anything is allocated.</summary>
    private ref struct Parser
    {
        private readonly GgufShard _s;
        private readonly GgufReadOptions _o;
        private readonly Dictionary<string, GgufTensorInfo> _names;
        private readonly int _firstTensor;
        private readonly byte* _p;
        private readonly long _len;
        private long _pos;

        public Parser(GgufShard s, GgufReadOptions o, Dictionary<string, GgufTensorInfo> names, int firstTensor)
        {
            _s = s; _o = o; _names = names; _firstTensor = firstTensor;
            _p = s._base; _len = s.Length; _pos = 0;
        }

        private GgufFormatException Err(string id, long? offset, string msg) => new(id, _s.Path, offset, msg);

        private readonly long Remaining => _len - _pos;

        // Context for error messages, kept in fields so that nothing is formatted unless an error is thrown.
        private string? _ctxName;
        private long _ctxIndex, _ctxSub;

        private readonly string Describe(Field f) => f switch
        {
            Field.Magic => "the magic",
            Field.Version => "the version",
            Field.NTensors => "n_tensors",
            Field.NKv => "n_kv",
            Field.Key => $"the key of KV {_ctxIndex}",
            Field.ValueType => $"the value type of KV '{_ctxName}'",
            Field.Value => $"the value of KV '{_ctxName}'",
            Field.ArrayType => $"the array element type of KV '{_ctxName}'",
            Field.ArrayCount => $"the array length of KV '{_ctxName}'",
            Field.ArrayElement => $"element {_ctxSub} of KV '{_ctxName}'",
            Field.TensorName => $"the name of tensor {_ctxIndex}",
            Field.NDims => $"n_dims of tensor '{_ctxName}'",
            Field.Ne => $"ne[{_ctxSub}] of tensor '{_ctxName}'",
            Field.TensorType => $"the type of tensor '{_ctxName}'",
            Field.TensorOffset => $"the data offset of tensor '{_ctxName}'",
            _ => f.ToString(),
        };

        private void Need(long n, Field f)
        {
            if (n > _len - _pos)
                throw Err(GgufErrorIds.Truncated, _pos,
                    $"GGUF file '{_s.Path}' is truncated: {Describe(f)} at offset {_pos} needs {n} bytes but only {_len - _pos} remain (file size {_len}).");
        }

        private uint U32(Field f) { Need(4, f); uint v = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 4)); _pos += 4; return v; }
        private ulong U64(Field f) { Need(8, f); ulong v = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 8)); _pos += 8; return v; }

        private string Str(Field what)
        {
            long at = _pos;
            ulong n = U64(what);
            if (n > (ulong)_o.MaxStringLength || n > int.MaxValue)
                throw Err(GgufErrorIds.StringTooLong, at,
                    $"GGUF {Describe(what)} (string) at offset {at} declares a length of {n} bytes, more than the limit of {Math.Min(_o.MaxStringLength, int.MaxValue)}.");
            if ((long)n > Remaining)
                throw Err(GgufErrorIds.Truncated, at,
                    $"GGUF file '{_s.Path}' is truncated: {Describe(what)} (string) at offset {at} declares {n} bytes but only {Remaining} remain (file size {_len}).");
            if (n == 0) return string.Empty;
            string s = Encoding.UTF8.GetString(_p + _pos, (int)n);
            _pos += (long)n;
            return s;
        }

        public void Parse()
        {
            var s = _s;
            if (_len < 4)
                throw Err(GgufErrorIds.Truncated, 0, $"'{s.Path}' has only {_len} bytes; a GGUF file starts with the 4-byte magic \"GGUF\".");
            uint magic = U32(Field.Magic);
            if (magic != Magic)
                throw Err(GgufErrorIds.BadMagic, 0,
                    $"'{s.Path}' is not a GGUF file: magic at offset 0 is 0x{magic:X8} ({Printable(_p, 4)}), expected 0x46554747 (\"GGUF\").");
            uint version = U32(Field.Version);
            if (version is not (2 or 3))
                throw Err(GgufErrorIds.UnsupportedVersion, 4, $"GGUF version {version} at offset 4 is not supported (only 2 and 3).");
            s.Version = version;
            long nTensorsAt = _pos;
            ulong nTensors = U64(Field.NTensors);
            long nKvAt = _pos;
            ulong nKv = U64(Field.NKv);
            if (nTensors > (ulong)_o.MaxTensors || nTensors > int.MaxValue / 2)
                throw Err(GgufErrorIds.TooManyTensors, nTensorsAt, $"n_tensors = {nTensors} at offset {nTensorsAt} exceeds the limit of {_o.MaxTensors}.");
            if (nKv > (ulong)_o.MaxKeys || nKv > int.MaxValue / 2)
                throw Err(GgufErrorIds.TooManyKeys, nKvAt, $"n_kv = {nKv} at offset {nKvAt} exceeds the limit of {_o.MaxKeys}.");
            if ((long)nKv * MinKvBytes + (long)nTensors * MinTensorInfoBytes > Remaining)
                throw Err(GgufErrorIds.Truncated, _pos,
                    $"GGUF file '{s.Path}' is truncated: {nKv} KVs and {nTensors} tensor infos need at least " +
                    $"{(long)nKv * MinKvBytes + (long)nTensors * MinTensorInfoBytes} bytes after offset {_pos} but only {Remaining} remain.");

            // KVs
            var kvs = new List<GgufMetadataEntry>((int)nKv);
            _ctxName = null;
            long alignAt = -1;
            for (long i = 0; i < (long)nKv; i++)
            {
                long kvAt = _pos;
                _ctxIndex = i; _ctxName = null;
                string key = Str(Field.Key);
                _ctxName = key;
                long typeAt = _pos;
                uint t = U32(Field.ValueType);
                var entry = ReadValue(key, t, typeAt);
                if (alignAt < 0 && key == "general.alignment") alignAt = kvAt;
                kvs.Add(entry);
            }
            s.Metadata = kvs;

            // general.alignment (first wins, like gguf_find_key)
            if (alignAt >= 0)
            {
                GgufMetadataEntry? a = null;
                foreach (var e in kvs) if (e.Key == "general.alignment") { a = e; break; }
                if (a!.Type != GgufValueType.UInt32)
                    throw Err(GgufErrorIds.BadAlignment, alignAt,
                        $"general.alignment (KV at offset {alignAt}) has type {GgufMetadataEntry.Name(a.Type)}; it must be uint32.");
                uint al = (uint)a.Value;
                if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 30))
                    throw Err(GgufErrorIds.BadAlignmentValue, alignAt,
                        $"general.alignment = {al} (KV at offset {alignAt}) is not a power of two between 1 and 2^30.");
                s.Alignment = (int)al;
            }

            // Tensor infos
            int n = (int)nTensors;
            var tensors = new List<GgufTensorInfo>(n);
            long[] recordOffsets = new long[n];
            for (int i = 0; i < n; i++)
            {
                long recAt = _pos;
                recordOffsets[i] = recAt;
                _ctxIndex = i; _ctxName = null;
                string name = Str(Field.TensorName);
                _ctxName = name;
                long dimsAt = _pos;
                uint nDims = U32(Field.NDims);
                if (nDims > 4)
                    throw Err(GgufErrorIds.TooManyDimensions, dimsAt, $"Tensor '{name}' (info at offset {recAt}) has n_dims = {nDims} at offset {dimsAt}; at most 4 are allowed.");
                if (nDims == 0)
                    throw Err(GgufErrorIds.BadDimension, dimsAt, $"Tensor '{name}' (info at offset {recAt}) has n_dims = 0 at offset {dimsAt}.");
                var shape = new long[nDims];
                long elements = 1;
                bool overflow = false;
                for (int d = 0; d < nDims; d++)
                {
                    long neAt = _pos;
                    _ctxSub = d;
                    ulong v = U64(Field.Ne);
                    if (v == 0 || v > long.MaxValue)
                        throw Err(GgufErrorIds.BadDimension, neAt, $"Tensor '{name}' has ne[{d}] = {v} at offset {neAt}; dimensions must be between 1 and 2^63-1.");
                    shape[d] = (long)v;
                    if (!overflow)
                    {
                        long hi = Math.BigMul(elements, (long)v, out long lo);
                        if (hi != 0 || lo < 0) overflow = true; else elements = lo;
                    }
                }
                if (overflow)
                    throw Err(GgufErrorIds.ElementCountOverflow, dimsAt,
                        $"Tensor '{name}' (info at offset {recAt}) has shape [{string.Join(", ", shape)}] whose element count overflows 63 bits.");
                long typeAt = _pos;
                uint typeId = U32(Field.TensorType);
                ulong offset = U64(Field.TensorOffset);

                var ti = TypeTable.TryGet((int)typeId);
                if (typeId > int.MaxValue) ti = null;
                long rowSize = 0, byteSize = 0, rows = elements / shape[0];
                if (ti is null)
                {
                    if (!_o.AllowUnknownTensorTypes)
                        throw Err(GgufErrorIds.UnknownTensorType, typeAt,
                            $"Tensor '{name}' has type id {(int)typeId} at offset {typeAt}, which ik_llama.cpp does not define.");
                }
                else
                {
                    if (shape[0] % ti.BlockSize != 0)
                        throw Err(GgufErrorIds.BlockSizeMismatch, dimsAt + 4,
                            $"Tensor '{name}' ({ti.DisplayName}) has ne0 = {shape[0]} at offset {dimsAt + 4}, not a multiple of the block size {ti.BlockSize}.");
                    try
                    {
                        var g = GgufTensorInfo.ComputeGeometry(ti, shape);
                        rowSize = g.RowSize; byteSize = g.ByteSize; rows = g.Rows;
                    }
                    catch (OverflowException)
                    {
                        throw Err(GgufErrorIds.ElementCountOverflow, dimsAt,
                            $"Tensor '{name}' ({ti.DisplayName}, shape [{string.Join(", ", shape)}]) has a byte size that overflows 63 bits.");
                    }
                }
                var info = new GgufTensorInfo(name, shape, (int)typeId, ti, elements, rowSize, rows, byteSize, offset,
                    fileOffset: -1, s.Index, s.Path, _firstTensor + i);
                if (!_names.TryAdd(name, info))
                    throw Err(GgufErrorIds.DuplicateTensorName, recAt,
                        $"Tensor name '{name}' (info at offset {recAt}) is used twice (first by tensor {_names[name].Index}).");
                tensors.Add(info);
            }

            long align = s.Alignment;
            long dataStart = (_pos + align - 1) / align * align;
            s.DataOffset = dataStart;

            // Offsets: alignment and bounds.
            ulong avail = dataStart <= _len ? (ulong)(_len - dataStart) : 0;
            bool sorted = true;
            ulong prev = 0;
            for (int i = 0; i < n; i++)
            {
                var t = tensors[i];
                if (t.Offset % (ulong)align != 0)
                    throw Err(GgufErrorIds.MisalignedTensor, recordOffsets[i],
                        $"Tensor '{t.Name}' (info at offset {recordOffsets[i]}) has data offset {t.Offset}, not a multiple of the alignment {align}.");
                if (dataStart > _len || t.Offset > avail || (ulong)t.ByteSize > avail - t.Offset)
                    throw Err(GgufErrorIds.TensorOutOfBounds, recordOffsets[i],
                        $"Tensor '{t.Name}' (info at offset {recordOffsets[i]}) occupies bytes {dataStart} + {t.Offset} .. +{t.ByteSize}, " +
                        $"past the end of the file ({_len} bytes).");
                t.FileOffset = dataStart + (long)t.Offset;
                if (t.Offset < prev) sorted = false;
                prev = t.Offset;
            }

            // Overlaps (tensors sorted by offset; the usual file order already is).
            if (n > 1)
            {
                int[] order = new int[n];
                for (int i = 0; i < n; i++) order[i] = i;
                if (!sorted)
                {
                    var keys = new ulong[n];
                    for (int i = 0; i < n; i++) keys[i] = tensors[i].Offset;
                    Array.Sort(keys, order);
                }
                var a = tensors[order[0]];
                for (int k = 1; k < n; k++)
                {
                    var b = tensors[order[k]];
                    if (a.Offset + (ulong)a.ByteSize > b.Offset)
                        throw Err(GgufErrorIds.OverlappingTensors, recordOffsets[order[k]],
                            $"Tensors '{a.Name}' (data offset {a.Offset}, {a.ByteSize} bytes) and '{b.Name}' (data offset {b.Offset}) overlap.");
                    if (b.Offset + (ulong)b.ByteSize >= a.Offset + (ulong)a.ByteSize) a = b;
                }
            }
            s.Tensors = tensors;
        }

        private GgufMetadataEntry ReadValue(string key, uint t, long typeAt)
        {
            if (t > (uint)GgufValueType.Float64)
                throw Err(GgufErrorIds.UnknownValueType, typeAt, $"KV '{key}' has value type {(int)t} at offset {typeAt}; known types are 0..12.");
            var type = (GgufValueType)t;
            if (type != GgufValueType.Array)
                return new GgufMetadataEntry(key, type, null, ReadScalar(type, key), true);

            long etAt = _pos;
            uint et = U32(Field.ArrayType);
            if (et == (uint)GgufValueType.Array)
                throw Err(GgufErrorIds.NestedArray, etAt, $"KV '{key}' is an array of arrays (element type at offset {etAt}); GGUF does not allow nesting.");
            if (et > (uint)GgufValueType.Float64)
                throw Err(GgufErrorIds.UnknownValueType, etAt, $"KV '{key}' is an array with element type {(int)et} at offset {etAt}; known types are 0..12.");
            var etype = (GgufValueType)et;
            long countAt = _pos;
            ulong count = U64(Field.ArrayCount);
            long max = Math.Min(_o.MaxArrayCount, Array.MaxLength);
            if (count > (ulong)max)
                throw Err(GgufErrorIds.ArrayTooLong, countAt, $"KV '{key}' declares {count} array elements at offset {countAt}, more than the limit of {max}.");
            int size = etype == GgufValueType.String ? 8 : ScalarSize(etype);
            if ((long)count * size > Remaining)
                throw Err(GgufErrorIds.Truncated, countAt,
                    $"GGUF file '{_s.Path}' is truncated: array '{key}' at offset {countAt} declares {count} elements (at least {(long)count * size} bytes) but only {Remaining} bytes remain.");
            int c = (int)count;
            object value;
            switch (etype)
            {
                case GgufValueType.String:
                {
                    var arr = new string[c];
                    for (int i = 0; i < c; i++) { _ctxSub = i; arr[i] = Str(Field.ArrayElement); }
                    value = arr;
                    break;
                }
                case GgufValueType.Bool:
                {
                    var arr = new bool[c];
                    byte* q = _p + _pos;
                    for (int i = 0; i < c; i++) arr[i] = q[i] != 0;
                    _pos += c;
                    value = arr;
                    break;
                }
                case GgufValueType.UInt8: value = Copy<byte>(c); break;
                case GgufValueType.Int8: value = Copy<sbyte>(c); break;
                case GgufValueType.UInt16: value = Copy<ushort>(c); break;
                case GgufValueType.Int16: value = Copy<short>(c); break;
                case GgufValueType.UInt32: value = Copy<uint>(c); break;
                case GgufValueType.Int32: value = Copy<int>(c); break;
                case GgufValueType.Float32: value = Copy<float>(c); break;
                case GgufValueType.UInt64: value = Copy<ulong>(c); break;
                case GgufValueType.Int64: value = Copy<long>(c); break;
                case GgufValueType.Float64: value = Copy<double>(c); break;
                default: throw new InvalidOperationException();
            }
            return new GgufMetadataEntry(key, GgufValueType.Array, etype, value, true);
        }

        private T[] Copy<T>(int count) where T : unmanaged
        {
            if (count == 0) return [];
            var arr = GC.AllocateUninitializedArray<T>(count);
            int bytes = count * sizeof(T);
            new ReadOnlySpan<byte>(_p + _pos, bytes).CopyTo(MemoryMarshal.AsBytes(arr.AsSpan()));
            _pos += bytes;
            if (!BitConverter.IsLittleEndian) ReverseEndianness(arr);
            return arr;
        }

        private static void ReverseEndianness<T>(T[] arr) where T : unmanaged
        {
            var b = MemoryMarshal.AsBytes(arr.AsSpan());
            int size = sizeof(T);
            for (int i = 0; i < b.Length; i += size) b.Slice(i, size).Reverse();
        }

        private object ReadScalar(GgufValueType type, string key)
        {
            const Field what = Field.Value;
            switch (type)
            {
                case GgufValueType.String: return Str(what);
                case GgufValueType.UInt8: Need(1, what); return _p[_pos++];
                case GgufValueType.Int8: Need(1, what); return (sbyte)_p[_pos++];
                case GgufValueType.Bool: Need(1, what); return _p[_pos++] != 0;
                case GgufValueType.UInt16: { Need(2, what); var v = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 2)); _pos += 2; return v; }
                case GgufValueType.Int16: { Need(2, what); var v = BinaryPrimitives.ReadInt16LittleEndian(new ReadOnlySpan<byte>(_p + _pos, 2)); _pos += 2; return v; }
                case GgufValueType.UInt32: return U32(what);
                case GgufValueType.Int32: return (int)U32(what);
                case GgufValueType.Float32: return BitConverter.UInt32BitsToSingle(U32(what));
                case GgufValueType.UInt64: return U64(what);
                case GgufValueType.Int64: return (long)U64(what);
                case GgufValueType.Float64: return BitConverter.UInt64BitsToDouble(U64(what));
                default: throw new InvalidOperationException();
            }
        }
    }

    private enum Field { Magic, Version, NTensors, NKv, Key, ValueType, Value, ArrayType, ArrayCount, ArrayElement, TensorName, NDims, Ne, TensorType, TensorOffset }

    internal static int ScalarSize(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    private static string Printable(byte* p, int n)
    {
        var sb = new StringBuilder("\"");
        for (int i = 0; i < n; i++) sb.Append(p[i] is >= 32 and < 127 ? (char)p[i] : '.');
        return sb.Append('"').ToString();
    }
}
