/* JSON text for the native OTLP decoder: escaping as Python's json module does (ensure_ascii
 * off), ids as lowercase hex, integers in decimal. Runs without the GIL: memory comes from the raw
 * allocator and a failure is only returned (the caller raises MemoryError once it holds the GIL). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "json_text.h"

int text_reserve(TextBuffer *buffer, size_t extra) {
    if (buffer->capacity - buffer->size >= extra) return 0;
    if (extra > (size_t)PY_SSIZE_T_MAX - buffer->size) return -1;
    size_t needed = buffer->size + extra;
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity < needed) capacity = capacity > (size_t)PY_SSIZE_T_MAX / 2 ? needed : capacity * 2;
    uint8_t *data = PyMem_RawRealloc(buffer->data, capacity);
    if (data == NULL) return -1;
    buffer->data = data;
    buffer->capacity = capacity;
    return 0;
}

void text_free(TextBuffer *buffer) {
    PyMem_RawFree(buffer->data);
    buffer->data = NULL;
    buffer->size = buffer->capacity = 0;
}

static const char HEX_DIGITS[] = "0123456789abcdef";

/* What json's encoder writes for one ASCII byte: 0 when the byte stands for itself. */
static const char *escape_of(uint8_t byte, char spelled[7]) {
    switch (byte) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\b':
            return "\\b";
        case '\f':
            return "\\f";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default:
            if (byte >= 0x20) return NULL;
            spelled[0] = '\\';
            spelled[1] = 'u';
            spelled[2] = '0';
            spelled[3] = '0';
            spelled[4] = HEX_DIGITS[byte >> 4];
            spelled[5] = HEX_DIGITS[byte & 0xF];
            spelled[6] = '\0';
            return spelled;
    }
}

static int escaped_string(TextBuffer *buffer, Slice text, int escape_line_separators) {
    /* Worst case six bytes per input byte, plus the quotes. */
    if (text.size > ((size_t)PY_SSIZE_T_MAX - 2) / 6) return -1;
    if (text_reserve(buffer, text.size * 6 + 2) < 0) return -1;
    uint8_t *out = buffer->data + buffer->size;
    *out++ = '"';
    for (size_t index = 0; index < text.size; index++) {
        uint8_t byte = text.data[index];
        if (byte == 0xE2 && escape_line_separators && index + 2 < text.size &&
            text.data[index + 1] == 0x80 && (text.data[index + 2] == 0xA8 || text.data[index + 2] == 0xA9)) {
            /* U+2028 or U+2029: three bytes become the six of \u2028 or \u2029 */
            memcpy(out, text.data[index + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
            out += 6;
            index += 2;
            continue;
        }
        if (byte >= 0x20 && byte != '"' && byte != '\\') {
            *out++ = byte;
            continue;
        }
        char spelled[7];
        const char *escape = escape_of(byte, spelled);
        while (*escape) *out++ = (uint8_t)*escape++;
    }
    *out++ = '"';
    buffer->size = (size_t)(out - buffer->data);
    return 0;
}

int json_string(TextBuffer *buffer, Slice text) { return escaped_string(buffer, text, 0); }

int go_json_string(TextBuffer *buffer, Slice text) { return escaped_string(buffer, text, 1); }

int json_hex(TextBuffer *buffer, Slice id) {
    if (text_reserve(buffer, id.size * 2 + 2) < 0) return -1;
    uint8_t *out = buffer->data + buffer->size;
    *out++ = '"';
    for (size_t index = 0; index < id.size; index++) {
        *out++ = (uint8_t)HEX_DIGITS[id.data[index] >> 4];
        *out++ = (uint8_t)HEX_DIGITS[id.data[index] & 0xF];
    }
    *out++ = '"';
    buffer->size = (size_t)(out - buffer->data);
    return 0;
}

int json_unsigned(TextBuffer *buffer, uint64_t value) {
    uint8_t digits[20];
    size_t count = 0;
    do {
        digits[sizeof digits - ++count] = (uint8_t)('0' + value % 10);
        value /= 10;
    } while (value);
    return text_append(buffer, digits + sizeof digits - count, count);
}

int decimal_signed(TextBuffer *buffer, int64_t value) {
    if (value >= 0) return json_unsigned(buffer, (uint64_t)value);
    if (text_append_byte(buffer, '-') < 0) return -1;
    /* The magnitude of INT64_MIN does not fit an int64: negate in unsigned arithmetic. */
    return json_unsigned(buffer, (uint64_t)0 - (uint64_t)value);
}
