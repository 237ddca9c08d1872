/* Bounds-checked reading of the protobuf wire format, for the native OTLP decoder.
 *
 * Every read checks the bytes left before touching them; every failure returns -1 and the caller
 * gives up on the request (the Python decoder then reports it). Limits follow upb, which the
 * Python decoder uses: tags and lengths are at most five bytes, lengths below 2^31, varints at
 * most ten bytes with the bits past 64 dropped.
 */
#ifndef SYNCSIGHT_OTLP_WIRE_H
#define SYNCSIGHT_OTLP_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *data;
    size_t size;
} Slice;

typedef struct {
    const uint8_t *position;
    const uint8_t *end;
} WireReader;

enum {
    WIRE_VARINT = 0,
    WIRE_FIXED64 = 1,
    WIRE_LENGTH_DELIMITED = 2,
    WIRE_FIXED32 = 5,
};

static inline WireReader wire_reader(Slice message) {
    WireReader reader = {message.data, message.data + message.size};
    return reader;
}

static inline int wire_at_end(const WireReader *reader) { return reader->position == reader->end; }

static inline size_t wire_remaining(const WireReader *reader) {
    return (size_t)(reader->end - reader->position);
}

static inline int wire_read_varint(WireReader *reader, uint64_t *value) {
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (reader->position == reader->end) return -1;
        uint8_t byte = *reader->position++;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return 0;
        }
    }
    return -1; /* more than ten bytes */
}

/* A varint of at most five bytes (tags and lengths), as upb reads them. */
static inline int wire_read_short_varint(WireReader *reader, uint64_t *value) {
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 35; shift += 7) {
        if (reader->position == reader->end) return -1;
        uint8_t byte = *reader->position++;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return 0;
        }
    }
    return -1;
}

static inline int wire_read_tag(WireReader *reader, uint32_t *field, int *wire_type) {
    uint64_t tag;
    if (wire_read_short_varint(reader, &tag) < 0 || tag > UINT32_MAX || (tag >> 3) == 0) return -1;
    *field = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    return 0;
}

static inline int wire_read_bytes(WireReader *reader, Slice *bytes) {
    uint64_t length;
    if (wire_read_short_varint(reader, &length) < 0 || length > INT32_MAX) return -1;
    if (length > wire_remaining(reader)) return -1;
    bytes->data = reader->position;
    bytes->size = (size_t)length;
    reader->position += length;
    return 0;
}

static inline int wire_read_fixed64(WireReader *reader, uint64_t *value) {
    if (wire_remaining(reader) < 8) return -1;
    uint64_t result = 0;
    for (int index = 7; index >= 0; index--) result = result << 8 | reader->position[index];
    reader->position += 8;
    *value = result;
    return 0;
}

/* Skip a field this decoder does not read. Groups (wire types 3 and 4) are refused: OTLP has
 * none, and matching upb's nesting rules for them is not worth a fast path. */
static inline int wire_skip(WireReader *reader, int wire_type) {
    uint64_t ignored;
    Slice ignored_bytes;
    switch (wire_type) {
        case WIRE_VARINT:
            return wire_read_varint(reader, &ignored);
        case WIRE_FIXED64:
            return wire_read_fixed64(reader, &ignored);
        case WIRE_LENGTH_DELIMITED:
            return wire_read_bytes(reader, &ignored_bytes);
        case WIRE_FIXED32:
            if (wire_remaining(reader) < 4) return -1;
            reader->position += 4;
            return 0;
        default:
            return -1;
    }
}

/* Strict UTF-8 as protobuf string fields and Python require: no overlong forms, no surrogates,
 * nothing above U+10FFFF. Returns the number of code points, or -1. */
static inline int64_t utf8_code_points(Slice text) {
    const uint8_t *position = text.data;
    const uint8_t *end = text.data + text.size;
    int64_t count = 0;
    while (position < end) {
        uint8_t lead = *position;
        if (lead < 0x80) {
            position++;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            if (end - position < 2 || (position[1] & 0xC0) != 0x80) return -1;
            position += 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            if (end - position < 3 || (position[1] & 0xC0) != 0x80 || (position[2] & 0xC0) != 0x80)
                return -1;
            if (lead == 0xE0 && position[1] < 0xA0) return -1; /* overlong */
            if (lead == 0xED && position[1] >= 0xA0) return -1; /* surrogate */
            position += 3;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            if (end - position < 4 || (position[1] & 0xC0) != 0x80 ||
                (position[2] & 0xC0) != 0x80 || (position[3] & 0xC0) != 0x80)
                return -1;
            if (lead == 0xF0 && position[1] < 0x90) return -1; /* overlong */
            if (lead == 0xF4 && position[1] >= 0x90) return -1; /* above U+10FFFF */
            position += 4;
        } else {
            return -1;
        }
        count++;
    }
    return count;
}

/* The first `characters` code points of valid UTF-8 text. */
static inline Slice utf8_prefix(Slice text, int64_t characters) {
    size_t position = 0;
    while (characters > 0 && position < text.size) {
        uint8_t lead = text.data[position];
        position += lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        characters--;
    }
    Slice prefix = {text.data, position < text.size ? position : text.size};
    return prefix;
}

#endif
