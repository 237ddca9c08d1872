/* The walk over an ExportTraceServiceRequest: resource spans → scope spans → spans, each valid
 * span written as one JSONCompactEachRow line of otel_traces.
 *
 * It follows collector/decode.py step for step: which fields are read, last-wins for singular
 * fields, span validation before anything nested is read, then the span's attributes and their
 * biz.* cap, then links, only the first max_events events and max_links links read at all, and
 * the row budget checked once the row is complete. Resource and scope columns, rejection messages
 * and unusual attribute encodings come from Python hooks, called with the GIL taken back.
 */
#include "decoder.h"

#define EMPTY EMPTY_SLICE

static int all_zero(Slice id) {
    for (size_t index = 0; index < id.size; index++)
        if (id.data[index]) return 0;
    return 1;
}

static int write_id_list(TextBuffer *out, const LinkFields *links, size_t count, int trace_ids) {
    if (text_append_byte(out, '[') < 0) return FAILED;
    for (size_t index = 0; index < count; index++) {
        Slice id = trace_ids ? links[index].trace_id : links[index].span_id;
        if (index && text_append_byte(out, ',') < 0) return FAILED;
        if (all_zero(id) ? json_string(out, EMPTY) : json_hex(out, id)) return FAILED; /* id_text */
    }
    return text_append(out, "],", 2);
}

static int write_map(Decoder *decoder, const Slice *encoded, size_t begin, size_t end, int64_t max_count) {
    for (size_t index = begin; index < end; index++) {
        int status = map_add_key_value(decoder, encoded[index]);
        if (status != DECODED) return status;
    }
    return map_write(decoder, &decoder->rows, max_count);
}

#define STEP(call)                              \
    do {                                        \
        int step_status = (call);               \
        if (step_status != DECODED) return step_status; \
    } while (0)
#define WRITE(call)                   \
    do {                              \
        if ((call) < 0) return FAILED; \
    } while (0)

/* The row of a span that passed validation; links were parsed and checked by the caller. */
static int write_row(Decoder *decoder, SpanScratch *span, size_t link_count) {
    TextBuffer *out = &decoder->rows;
    const NativeLimits *limits = &decoder->limits;
    size_t event_count = span->events.count < (uint64_t)limits->max_events ? span->events.count : (size_t)limits->max_events;
    decoder->dropped_events += (int64_t)(span->events.count - event_count);
    STEP(reserve_parsed(span, event_count));
    for (size_t index = 0; index < event_count; index++)
        STEP(parse_event(span, span->events.items[index], &span->parsed_events[index]));
    Slice status_code, status_message;
    STEP(status_columns(decoder, span->status, &status_code, &status_message));

    if (decoder->row_count) WRITE(text_append_byte(out, '\n'));
    WRITE(text_append_byte(out, '['));
    WRITE(json_unsigned(out, span->start));
    WRITE(text_append_byte(out, ','));
    WRITE(json_hex(out, span->trace_id));
    WRITE(text_append_byte(out, ','));
    WRITE(json_hex(out, span->span_id));
    WRITE(text_append_byte(out, ','));
    WRITE(all_zero(span->parent_span_id) ? json_string(out, EMPTY) : json_hex(out, span->parent_span_id));
    WRITE(text_append_byte(out, ','));
    WRITE(json_string(out, capped_field(decoder, span->trace_state)));
    WRITE(text_append_byte(out, ','));
    WRITE(json_string(out, capped_field(decoder, span->name)));
    WRITE(text_append_byte(out, ','));
    if (span->kind >= 0 && (size_t)span->kind < decoder->kind_count) {
        Slice kind = decoder->kind_texts[span->kind];
        WRITE(text_append(out, kind.data, kind.size));
    } else {
        WRITE(json_string(out, EMPTY));
    }
    WRITE(text_append_byte(out, ','));
    WRITE(text_append(out, decoder->envelope.data, decoder->envelope.size));
    WRITE(text_append_byte(out, ','));
    STEP(map_write(decoder, out, limits->max_span_attributes)); /* built by decode_span */
    WRITE(text_append_byte(out, ','));
    WRITE(json_unsigned(out, span->end - span->start));
    WRITE(text_append_byte(out, ','));
    WRITE(text_append(out, status_code.data, status_code.size));
    WRITE(text_append_byte(out, ','));
    WRITE(json_string(out, capped_field(decoder, status_message)));
    WRITE(text_append(out, ",[", 2));

    const EventFields *events = span->parsed_events;
    for (size_t index = 0; index < event_count; index++) {
        if (index) WRITE(text_append_byte(out, ','));
        WRITE(json_unsigned(out, events[index].time));
    }
    WRITE(text_append(out, "],[", 3));
    for (size_t index = 0; index < event_count; index++) {
        if (index) WRITE(text_append_byte(out, ','));
        WRITE(json_string(out, capped_field(decoder, events[index].name)));
    }
    WRITE(text_append(out, "],[", 3));
    for (size_t index = 0; index < event_count; index++) {
        if (index) WRITE(text_append_byte(out, ','));
        STEP(write_map(decoder, span->nested_attributes.items, events[index].attributes_begin,
                       events[index].attributes_end, limits->max_event_attributes));
    }
    WRITE(text_append(out, "],", 2));

    const LinkFields *links = span->parsed_links;
    WRITE(write_id_list(out, links, link_count, 1));
    WRITE(write_id_list(out, links, link_count, 0));
    WRITE(text_append_byte(out, '['));
    for (size_t index = 0; index < link_count; index++) {
        if (index) WRITE(text_append_byte(out, ','));
        WRITE(json_string(out, capped_field(decoder, links[index].trace_state)));
    }
    WRITE(text_append(out, "],[", 3));
    for (size_t index = 0; index < link_count; index++) {
        if (index) WRITE(text_append_byte(out, ','));
        STEP(write_map(decoder, span->nested_attributes.items, links[index].attributes_begin,
                       links[index].attributes_end, limits->max_link_attributes));
    }
    WRITE(text_append(out, "]]", 2));
    decoder->row_count++;
    decoder->row_bytes_spent += (int64_t)decoder->envelope.size;
    return DECODED;
}

/* Raises RequestOverBudget through the hook, naming the span whose row went past the budget. */
static int over_budget(Decoder *decoder, Py_ssize_t path[3]) {
    gil_hold(decoder);
    PyObject *answer = PyObject_CallFunction(decoder->over_budget_hook, "nnnL", path[0], path[1], path[2],
                                             (long long)decoder->row_bytes_spent);
    Py_XDECREF(answer);
    if (answer != NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "over_budget hook: expected it to raise");
    gil_release(decoder);
    return FAILED;
}

static int reject_span(Decoder *decoder, SpanScratch *span, Py_ssize_t path[3]) {
    gil_hold(decoder);
    PyObject *answer = PyObject_CallFunction(
        decoder->span_rejected_hook, "nnny#y#y#KK", path[0], path[1], path[2],
        (const char *)span->trace_id.data, (Py_ssize_t)span->trace_id.size,
        (const char *)span->span_id.data, (Py_ssize_t)span->span_id.size,
        (const char *)span->parent_span_id.data, (Py_ssize_t)span->parent_span_id.size,
        (unsigned long long)span->start, (unsigned long long)span->end);
    Py_XDECREF(answer);
    gil_release(decoder);
    return answer == NULL ? FAILED : DECODED;
}

static int reject_business(Decoder *decoder, SpanScratch *span, Py_ssize_t path[3], int64_t count) {
    map_clear(decoder);
    gil_hold(decoder);
    PyObject *answer = PyObject_CallFunction(decoder->business_rejected_hook, "nnny#L", path[0], path[1],
                                             path[2], (const char *)span->span_id.data,
                                             (Py_ssize_t)span->span_id.size, (long long)count);
    Py_XDECREF(answer);
    gil_release(decoder);
    return answer == NULL ? FAILED : DECODED;
}

static int reject_link(Decoder *decoder, SpanScratch *span, Py_ssize_t path[3], size_t index) {
    const LinkFields *link = &span->parsed_links[index];
    map_clear(decoder);
    gil_hold(decoder);
    PyObject *answer = PyObject_CallFunction(
        decoder->link_rejected_hook, "nnny#ny#y#", path[0], path[1], path[2],
        (const char *)span->span_id.data, (Py_ssize_t)span->span_id.size, (Py_ssize_t)index,
        (const char *)link->trace_id.data, (Py_ssize_t)link->trace_id.size,
        (const char *)link->span_id.data, (Py_ssize_t)link->span_id.size);
    Py_XDECREF(answer);
    gil_release(decoder);
    return answer == NULL ? FAILED : DECODED;
}

static int decode_span(Decoder *decoder, SpanScratch *span, Slice encoded, Py_ssize_t path[3]) {
    STEP(parse_span(span, encoded));
    if (span->trace_id.size != 16 || span->span_id.size != 8 || all_zero(span->trace_id) ||
        all_zero(span->span_id) || span->end < span->start ||
        (span->parent_span_id.size && span->parent_span_id.size != 8))
        return reject_span(decoder, span, path);

    const NativeLimits *limits = &decoder->limits;
    for (size_t index = 0; index < span->attributes.count; index++)
        STEP(map_add_key_value(decoder, span->attributes.items[index]));
    if ((int64_t)decoder->entry_count > limits->max_business_attributes) {
        int64_t business = map_business_count(decoder);
        if (business > limits->max_business_attributes) return reject_business(decoder, span, path, business);
    }

    span->nested_attributes.count = 0;
    size_t link_count = span->links.count < (uint64_t)limits->max_links ? span->links.count : (size_t)limits->max_links;
    STEP(reserve_parsed(span, link_count));
    for (size_t index = 0; index < link_count; index++)
        STEP(parse_link(span, span->links.items[index], &span->parsed_links[index]));
    for (size_t index = 0; index < link_count; index++) {
        Slice trace_id = span->parsed_links[index].trace_id, span_id = span->parsed_links[index].span_id;
        if ((trace_id.size && trace_id.size != 16) || (span_id.size && span_id.size != 8))
            return reject_link(decoder, span, path, index);
    }
    decoder->dropped_links += (int64_t)(span->links.count - link_count);
    STEP(write_row(decoder, span, link_count));
    return decoder->row_bytes_spent > limits->max_row_bytes ? over_budget(decoder, path) : DECODED;
}

/* The JSON text a hook returns (a str), appended to the envelope. */
static int append_hook_text(Decoder *decoder, PyObject *hook, Slice encoded) {
    gil_hold(decoder);
    int status = FAILED;
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)encoded.data, (Py_ssize_t)encoded.size);
    PyObject *answer = bytes == NULL ? NULL : PyObject_CallOneArg(hook, bytes);
    Py_XDECREF(bytes);
    if (answer != NULL) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(answer, &size);
        status = text == NULL || text_append(&decoder->envelope, text, (size_t)size) < 0 ? FAILED : DECODED;
        Py_DECREF(answer);
    }
    gil_release(decoder);
    return status;
}

/* The last occurrence of a singular length-delimited field, checking the whole message's shape. */
static int last_bytes_field(Slice message, uint32_t wanted, Slice *found) {
    *found = EMPTY;
    WireReader reader = wire_reader(message);
    while (!wire_at_end(&reader)) {
        uint32_t field;
        int wire_type;
        if (wire_read_tag(&reader, &field, &wire_type) < 0) return GIVE_UP;
        if (field == wanted || field == 2) {
            Slice bytes;
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &bytes);
            if (field == wanted) *found = bytes;
        } else if (wire_skip(&reader, wire_type) < 0) {
            return GIVE_UP;
        }
    }
    return DECODED;
}

/* Each field 2 (scope_spans of a ResourceSpans, spans of a ScopeSpans) of a checked message. */
static int next_repeated(WireReader *reader, Slice *item) {
    while (!wire_at_end(reader)) {
        uint32_t field = 0;
        int wire_type = -1;
        Slice bytes = EMPTY;
        if (wire_read_tag(reader, &field, &wire_type) < 0) return 0; /* not reached: checked */
        if (wire_type == WIRE_LENGTH_DELIMITED) {
            if (wire_read_bytes(reader, &bytes) < 0) return 0;
            if (field == 2) {
                *item = bytes;
                return 1;
            }
        } else if (wire_skip(reader, wire_type) < 0) {
            return 0;
        }
    }
    return 0;
}

static int decode_resource_spans(Decoder *decoder, SpanScratch *span, Slice encoded, Py_ssize_t resource_index) {
    Slice resource, scope_spans, scope, encoded_span;
    STEP(last_bytes_field(encoded, 1, &resource));
    decoder->envelope.size = 0;
    STEP(append_hook_text(decoder, decoder->resource_hook, resource));
    WRITE(text_append_byte(&decoder->envelope, ','));
    decoder->resource_columns_size = decoder->envelope.size;
    WireReader scopes = wire_reader(encoded);
    for (Py_ssize_t scope_index = 0; next_repeated(&scopes, &scope_spans); scope_index++) {
        STEP(last_bytes_field(scope_spans, 1, &scope));
        decoder->envelope.size = decoder->resource_columns_size;
        STEP(append_hook_text(decoder, decoder->scope_hook, scope));
        WireReader spans = wire_reader(scope_spans);
        for (Py_ssize_t span_index = 0; next_repeated(&spans, &encoded_span); span_index++) {
            Py_ssize_t path[3] = {resource_index, scope_index, span_index};
            STEP(decode_span(decoder, span, encoded_span, path));
        }
    }
    return DECODED;
}

static int decode_all(Decoder *decoder, SpanScratch *span, Slice body) {
    WireReader reader = wire_reader(body);
    for (Py_ssize_t resource_index = 0; !wire_at_end(&reader);) {
        uint32_t field;
        int wire_type;
        Slice resource_spans;
        if (wire_read_tag(&reader, &field, &wire_type) < 0) return GIVE_UP;
        if (field == 1) {
            READ_BYTES_OR_GIVE_UP(&reader, wire_type, &resource_spans);
            STEP(decode_resource_spans(decoder, span, resource_spans, resource_index++));
        } else if (wire_skip(&reader, wire_type) < 0) {
            return GIVE_UP;
        }
    }
    return DECODED;
}

int decode_request_rows(Decoder *decoder, Slice body) {
    SpanScratch span;
    memset(&span, 0, sizeof span);
    int status = decode_all(decoder, &span, body);
    slices_free(&span.attributes);
    slices_free(&span.events);
    slices_free(&span.links);
    slices_free(&span.nested_attributes);
    PyMem_RawFree(span.parsed_events);
    PyMem_RawFree(span.parsed_links);
    return status;
}
