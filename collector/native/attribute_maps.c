/* Attribute maps of the native OTLP decoder: encoded KeyValues in, the exporter's string map out
 * as JSON, with the count and length caps of DecodeLimits.
 *
 * The common value shapes (string, bool, int, plain double, array of strings) are read here; any
 * other shape, including unusual field orders and repeated fields, goes to the Python decoder's
 * own key_value_text through a hook, so both decoders give every value the same text.
 */
#include "decoder.h"

enum { VALUE_READ = 0, VALUE_UNUSUAL = 1 }; /* or FAILED */

/* FNV-1a from a per-process seed, then a splitmix64 finish so the low bits that pick a slot
 * depend on every byte: keys chosen to collide in one process need not collide in another. */
static uint64_t key_hash(const Decoder *decoder, Slice key) {
    uint64_t hash = 0xcbf29ce484222325u ^ decoder->hash_seed;
    for (size_t index = 0; index < key.size; index++) hash = (hash ^ key.data[index]) * 0x100000001b3u;
    hash = (hash ^ (hash >> 30)) * 0xbf58476d1ce4e5b9u;
    hash = (hash ^ (hash >> 27)) * 0x94d049bb133111ebu;
    return hash ^ (hash >> 31);
}

/* The value text cut to the length cap, counting the cut. Text must be valid UTF-8. */
static Slice capped(const Decoder *decoder, Slice text, int64_t characters, int64_t *cut) {
    if (characters <= decoder->limits.max_value_length) return text;
    (*cut)++;
    return utf8_prefix(text, decoder->limits.max_value_length);
}

/* A double as the exporter writes it, when Python's repr is already that text minus a ".0";
 * exponents, NaN and infinities are left to the Python decoder. */
static int plain_double_text(Decoder *decoder, double value, Slice *text) {
    gil_hold(decoder); /* Python's repr of a double allocates through the GIL-bound allocator */
    char *repr = PyOS_double_to_string(value, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (repr == NULL) {
        gil_release(decoder);
        return FAILED;
    }
    size_t size = strlen(repr);
    int unusual = strpbrk(repr, "eni") != NULL;
    if (!unusual && size > 2 && repr[size - 2] == '.' && repr[size - 1] == '0') size -= 2;
    decoder->value_text.size = 0;
    int status = unusual ? VALUE_UNUSUAL : text_append(&decoder->value_text, repr, size) < 0 ? FAILED : VALUE_READ;
    PyMem_Free(repr);
    gil_release(decoder);
    *text = text_slice(&decoder->value_text, 0, decoder->value_text.size);
    return status;
}

/* ["a","b"]: an ArrayValue whose every element is an AnyValue holding only a string. */
static int string_array_text(Decoder *decoder, Slice array, Slice *text, int64_t *cut) {
    TextBuffer *out = &decoder->value_text;
    out->size = 0;
    if (text_append_byte(out, '[') < 0) return FAILED;
    WireReader reader = wire_reader(array);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        Slice element, string;
        if (wire_read_tag(&reader, &field, &wire_type) < 0 || field != 1 ||
            wire_type != WIRE_LENGTH_DELIMITED || wire_read_bytes(&reader, &element) < 0)
            return VALUE_UNUSUAL;
        WireReader element_reader = wire_reader(element);
        if (wire_read_tag(&element_reader, &field, &wire_type) < 0 || field != 1 ||
            wire_type != WIRE_LENGTH_DELIMITED || wire_read_bytes(&element_reader, &string) < 0 ||
            !wire_at_end(&element_reader))
            return VALUE_UNUSUAL;
        int64_t characters = utf8_code_points(string);
        if (characters < 0) return VALUE_UNUSUAL;
        if (out->size > 1 && text_append_byte(out, ',') < 0) return FAILED;
        if (go_json_string(out, capped(decoder, string, characters, cut)) < 0) return FAILED;
    }
    if (text_append_byte(out, ']') < 0) return FAILED;
    *text = text_slice(out, 0, out->size);
    return VALUE_READ;
}

/* The text of an encoded AnyValue holding exactly one common kind of value, or VALUE_UNUSUAL. */
static int simple_value_text(Decoder *decoder, Slice value, Slice *text, int64_t *cut) {
    static const uint8_t TRUE_TEXT[] = "true", FALSE_TEXT[] = "false";
    WireReader reader = wire_reader(value);
    text->data = value.data;
    text->size = 0;
    if (wire_at_end(&reader)) return VALUE_READ; /* no value: '' */
    uint32_t field;
    int wire_type;
    uint64_t number;
    Slice bytes;
    int64_t characters;
    if (wire_read_tag(&reader, &field, &wire_type) < 0) return VALUE_UNUSUAL;
    if (field == 1 && wire_type == WIRE_LENGTH_DELIMITED) { /* string_value */
        if (wire_read_bytes(&reader, &bytes) < 0 || !wire_at_end(&reader)) return VALUE_UNUSUAL;
        if ((characters = utf8_code_points(bytes)) < 0) return VALUE_UNUSUAL;
        *text = capped(decoder, bytes, characters, cut);
        return VALUE_READ;
    }
    if (field == 5 && wire_type == WIRE_LENGTH_DELIMITED) { /* array_value: elements are cut */
        if (wire_read_bytes(&reader, &bytes) < 0 || !wire_at_end(&reader)) return VALUE_UNUSUAL;
        int64_t cut_elements = 0;
        int status = string_array_text(decoder, bytes, text, &cut_elements);
        if (status == VALUE_READ) *cut += cut_elements;
        return status;
    }
    if (field == 2 && wire_type == WIRE_VARINT) { /* bool_value */
        if (wire_read_varint(&reader, &number) < 0 || !wire_at_end(&reader)) return VALUE_UNUSUAL;
        text->data = number ? TRUE_TEXT : FALSE_TEXT;
        text->size = number ? 4 : 5;
    } else if (field == 3 && wire_type == WIRE_VARINT) { /* int_value */
        if (wire_read_varint(&reader, &number) < 0 || !wire_at_end(&reader)) return VALUE_UNUSUAL;
        decoder->value_text.size = 0;
        if (decimal_signed(&decoder->value_text, (int64_t)number) < 0) return FAILED;
        *text = text_slice(&decoder->value_text, 0, decoder->value_text.size);
    } else if (field == 4 && wire_type == WIRE_FIXED64) { /* double_value */
        double real;
        if (wire_read_fixed64(&reader, &number) < 0 || !wire_at_end(&reader)) return VALUE_UNUSUAL;
        memcpy(&real, &number, sizeof real);
        int status = plain_double_text(decoder, real, text);
        if (status != VALUE_READ) return status;
    } else {
        return VALUE_UNUSUAL;
    }
    *text = capped(decoder, *text, (int64_t)text->size, cut); /* ASCII: bytes are characters */
    return VALUE_READ;
}

/* key and value of a KeyValue with at most one key and one value field, in either order. */
static int simple_key_value(Slice encoded, Slice *key, Slice *value) {
    int key_seen = 0, value_seen = 0;
    key->data = value->data = encoded.data;
    key->size = value->size = 0;
    WireReader reader = wire_reader(encoded);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        if (wire_read_tag(&reader, &field, &wire_type) < 0 || wire_type != WIRE_LENGTH_DELIMITED)
            return VALUE_UNUSUAL;
        if (field == 1 && !key_seen) {
            key_seen = 1;
            if (wire_read_bytes(&reader, key) < 0) return VALUE_UNUSUAL;
        } else if (field == 2 && !value_seen) {
            value_seen = 1;
            if (wire_read_bytes(&reader, value) < 0) return VALUE_UNUSUAL;
        } else {
            return VALUE_UNUSUAL;
        }
    }
    return utf8_code_points(*key) < 0 ? VALUE_UNUSUAL : VALUE_READ;
}

static int grow_slots(Decoder *decoder) {
    size_t count = decoder->slot_count ? decoder->slot_count * 2 : 64;
    if (count > UINT32_MAX) return FAILED;
    uint32_t *slots = PyMem_RawCalloc(count, sizeof *slots);
    if (slots == NULL) return FAILED;
    size_t mask = count - 1;
    for (size_t index = 0; index < decoder->entry_count; index++) {
        MapEntry *entry = &decoder->entries[index];
        size_t slot = (size_t)entry->key_hash & mask;
        while (slots[slot]) slot = (slot + 1) & mask;
        slots[slot] = (uint32_t)(index + 1);
        entry->slot = slot;
    }
    PyMem_RawFree(decoder->slots);
    decoder->slots = slots;
    decoder->slot_count = count;
    return DECODED;
}

static int add_entry(Decoder *decoder, Slice key, Slice value_text) {
    if (decoder->entry_count == decoder->entry_capacity) {
        size_t capacity = decoder->entry_capacity ? decoder->entry_capacity * 2 : 32;
        MapEntry *entries = PyMem_RawRealloc(decoder->entries, capacity * sizeof *entries);
        if (entries == NULL) return FAILED;
        decoder->entries = entries;
        decoder->entry_capacity = capacity;
    }
    if ((decoder->entry_count + 1) * 2 > decoder->slot_count && grow_slots(decoder) != DECODED) return FAILED;
    TextBuffer *arena = &decoder->arena;
    uint64_t hash = key_hash(decoder, key);
    size_t mask = decoder->slot_count - 1;
    size_t slot = (size_t)hash & mask;
    MapEntry *entry = NULL;
    for (; decoder->slots[slot]; slot = (slot + 1) & mask) {
        MapEntry *known = &decoder->entries[decoder->slots[slot] - 1];
        if (known->key_hash == hash && known->key_size == key.size &&
            memcmp(arena->data + known->key_offset, key.data, key.size) == 0) {
            entry = known; /* a repeated key keeps its place and takes the new value, as dict() does */
            break;
        }
    }
    if (entry == NULL) {
        decoder->slots[slot] = (uint32_t)(decoder->entry_count + 1);
        entry = &decoder->entries[decoder->entry_count++];
        entry->slot = slot;
        entry->key_offset = arena->size;
        entry->key_size = key.size;
        entry->key_hash = hash;
        entry->business = key.size >= decoder->business_prefix.size &&
                          memcmp(key.data, decoder->business_prefix.data, decoder->business_prefix.size) == 0;
        if (text_append(arena, key.data, key.size) < 0) return FAILED;
    }
    entry->fragment_offset = arena->size;
    if (json_string(arena, key) < 0 || text_append_byte(arena, ':') < 0 || json_string(arena, value_text) < 0)
        return FAILED;
    entry->fragment_size = arena->size - entry->fragment_offset;
    return DECODED;
}

/* Key and text of an unusual KeyValue from the Python decoder; it raises for malformed input.
 * Called with the GIL held. */
static int add_hook_answer(Decoder *decoder, Slice encoded) {
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)encoded.data, (Py_ssize_t)encoded.size);
    if (bytes == NULL) return FAILED;
    PyObject *answer = PyObject_CallOneArg(decoder->key_value_hook, bytes);
    Py_DECREF(bytes);
    if (answer == NULL) return FAILED;
    Py_ssize_t key_size, text_size;
    const char *key, *text;
    long long cut;
    if (!PyTuple_Check(answer) || PyTuple_GET_SIZE(answer) != 3 ||
        (key = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(answer, 0), &key_size)) == NULL ||
        (text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(answer, 1), &text_size)) == NULL ||
        ((cut = PyLong_AsLongLong(PyTuple_GET_ITEM(answer, 2))) == -1 && PyErr_Occurred())) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "key_value hook: expected (key, text, cut)");
        Py_DECREF(answer);
        return FAILED;
    }
    Slice key_slice = {(const uint8_t *)key, (size_t)key_size};
    Slice text_slice_ = {(const uint8_t *)text, (size_t)text_size};
    decoder->truncated_values += cut;
    int status = add_entry(decoder, key_slice, text_slice_);
    Py_DECREF(answer);
    return status;
}

static int add_through_hook(Decoder *decoder, Slice encoded) {
    gil_hold(decoder);
    int status = add_hook_answer(decoder, encoded);
    gil_release(decoder);
    return status;
}

int map_add_key_value(Decoder *decoder, Slice encoded) {
    Slice key, value, text;
    int64_t cut = 0;
    if (simple_key_value(encoded, &key, &value) == VALUE_READ) {
        int status = simple_value_text(decoder, value, &text, &cut);
        if (status == FAILED) return FAILED;
        if (status == VALUE_READ) {
            decoder->truncated_values += cut;
            return add_entry(decoder, key, text);
        }
    }
    return add_through_hook(decoder, encoded);
}

int64_t map_business_count(const Decoder *decoder) {
    int64_t business = 0;
    for (size_t index = 0; index < decoder->entry_count; index++) business += decoder->entries[index].business;
    return business;
}

void map_clear(Decoder *decoder) {
    for (size_t index = 0; index < decoder->entry_count; index++) decoder->slots[decoder->entries[index].slot] = 0;
    decoder->entry_count = 0;
    decoder->arena.size = 0;
}

int map_write(Decoder *decoder, TextBuffer *out, int64_t max_count) {
    int64_t count = (int64_t)decoder->entry_count;
    int64_t room = count;
    if (count > max_count) { /* biz.* keys are always kept; the others fill the room left, in order */
        int64_t business = map_business_count(decoder);
        room = max_count > business ? max_count - business : 0;
    }
    int64_t kept = 0;
    if (text_append_byte(out, '{') < 0) return FAILED;
    for (size_t index = 0; index < decoder->entry_count; index++) {
        const MapEntry *entry = &decoder->entries[index];
        if (!entry->business) {
            if (room == 0) continue;
            room--;
        }
        if (kept++ && text_append_byte(out, ',') < 0) return FAILED;
        if (text_append(out, decoder->arena.data + entry->fragment_offset, entry->fragment_size) < 0) return FAILED;
    }
    if (text_append_byte(out, '}') < 0) return FAILED;
    decoder->dropped_attributes += count - kept;
    map_clear(decoder);
    return DECODED;
}

void map_free(Decoder *decoder) {
    PyMem_RawFree(decoder->entries);
    PyMem_RawFree(decoder->slots);
    decoder->entries = NULL;
    decoder->slots = NULL;
    decoder->entry_count = decoder->entry_capacity = decoder->slot_count = 0;
}
