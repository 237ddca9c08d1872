/* The fields of one span, event, link and status, read as collector/decode.py's wire schema does:
 * last wins for singular fields, strings checked for UTF-8, a known field of another wire type left
 * to the Python decoder. */
#include "decoder.h"

const Slice EMPTY_SLICE = {(const uint8_t *)"", 0};
#define EMPTY EMPTY_SLICE

int slices_append(SliceList *list, Slice slice) {
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 32;
        Slice *items = PyMem_RawRealloc(list->items, capacity * sizeof *items);
        if (items == NULL) return FAILED;
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = slice;
    return DECODED;
}

void slices_free(SliceList *list) {
    PyMem_RawFree(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

int parse_span(SpanScratch *span, Slice encoded) {
    span->trace_id = span->span_id = span->trace_state = span->parent_span_id = span->name = span->status = EMPTY;
    span->kind = 0;
    span->start = span->end = 0;
    span->attributes.count = span->events.count = span->links.count = 0;
    WireReader reader = wire_reader(encoded);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        uint64_t number;
        Slice bytes;
        if (wire_read_tag(&reader, &field, &wire_type) < 0) return GIVE_UP;
        switch (field) {
            case 1: READ_BYTES_OR_GIVE_UP(&reader, wire_type, &span->trace_id); break;
            case 2: READ_BYTES_OR_GIVE_UP(&reader, wire_type, &span->span_id); break;
            case 3: READ_BYTES_OR_GIVE_UP(&reader, wire_type, &span->trace_state);
                if (!valid_string(span->trace_state)) return GIVE_UP;
                break;
            case 4: READ_BYTES_OR_GIVE_UP(&reader, wire_type, &span->parent_span_id); break;
            case 5: READ_BYTES_OR_GIVE_UP(&reader, wire_type, &span->name);
                if (!valid_string(span->name)) return GIVE_UP;
                break;
            case 6:
                if (wire_type != WIRE_VARINT || wire_read_varint(&reader, &number) < 0) return GIVE_UP;
                span->kind = (int32_t)(uint32_t)number; /* int32: the low 32 bits */
                break;
            case 7:
                if (wire_type != WIRE_FIXED64 || wire_read_fixed64(&reader, &span->start) < 0) return GIVE_UP;
                break;
            case 8:
                if (wire_type != WIRE_FIXED64 || wire_read_fixed64(&reader, &span->end) < 0) return GIVE_UP;
                break;
            case 9: case 11: case 13:
                READ_BYTES_OR_GIVE_UP(&reader, wire_type, &bytes);
                if (slices_append(field == 9 ? &span->attributes : field == 11 ? &span->events : &span->links, bytes) < 0)
                    return FAILED;
                break;
            case 15: READ_BYTES_OR_GIVE_UP(&reader, wire_type, &span->status); break;
            default:
                if (wire_skip(&reader, wire_type) < 0) return GIVE_UP;
        }
    }
    return DECODED;
}

int reserve_parsed(SpanScratch *span, size_t count) {
    if (count <= span->parsed_capacity) return DECODED;
    EventFields *events = PyMem_RawRealloc(span->parsed_events, count * sizeof *events);
    if (events == NULL) return FAILED;
    span->parsed_events = events;
    LinkFields *links = PyMem_RawRealloc(span->parsed_links, count * sizeof *links);
    if (links == NULL) return FAILED;
    span->parsed_links = links;
    span->parsed_capacity = count;
    return DECODED;
}

int parse_event(SpanScratch *span, Slice encoded, EventFields *event) {
    event->time = 0;
    event->name = EMPTY;
    event->attributes_begin = span->nested_attributes.count;
    WireReader reader = wire_reader(encoded);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        Slice bytes;
        if (wire_read_tag(&reader, &field, &wire_type) < 0) return GIVE_UP;
        if (field == 1) {
            if (wire_type != WIRE_FIXED64 || wire_read_fixed64(&reader, &event->time) < 0) return GIVE_UP;
        } else if (field == 2) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &event->name);
            if (!valid_string(event->name)) return GIVE_UP;
        } else if (field == 3) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &bytes);
            if (slices_append(&span->nested_attributes, bytes) < 0) return FAILED;
        } else if (wire_skip(&reader, wire_type) < 0) {
            return GIVE_UP;
        }
    }
    event->attributes_end = span->nested_attributes.count;
    return DECODED;
}

int parse_link(SpanScratch *span, Slice encoded, LinkFields *link) {
    link->trace_id = link->span_id = link->trace_state = EMPTY;
    link->attributes_begin = span->nested_attributes.count;
    WireReader reader = wire_reader(encoded);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        Slice bytes;
        if (wire_read_tag(&reader, &field, &wire_type) < 0) return GIVE_UP;
        if (field == 1) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &link->trace_id);
        } else if (field == 2) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &link->span_id);
        } else if (field == 3) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &link->trace_state);
            if (!valid_string(link->trace_state)) return GIVE_UP;
        } else if (field == 4) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &bytes);
            if (slices_append(&span->nested_attributes, bytes) < 0) return FAILED;
        } else if (wire_skip(&reader, wire_type) < 0) {
            return GIVE_UP;
        }
    }
    link->attributes_end = span->nested_attributes.count;
    return DECODED;
}

int status_columns(Decoder *decoder, Slice encoded, Slice *code_text, Slice *message) {
    static const Slice UNKNOWN_CODE = {(const uint8_t *)"\"\"", 2};
    int32_t code = 0;
    *message = EMPTY;
    WireReader reader = wire_reader(encoded);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        uint64_t number;
        if (wire_read_tag(&reader, &field, &wire_type) < 0) return GIVE_UP;
        if (field == 2) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, message);
            if (!valid_string(*message)) return GIVE_UP;
        } else if (field == 3) {
            if (wire_type != WIRE_VARINT || wire_read_varint(&reader, &number) < 0) return GIVE_UP;
            code = (int32_t)(uint32_t)number;
        } else if (wire_skip(&reader, wire_type) < 0) {
            return GIVE_UP;
        }
    }
    *code_text = UNKNOWN_CODE;
    if (code >= 0 && (size_t)code < decoder->status_count) *code_text = decoder->status_texts[code];
    return DECODED;
}

