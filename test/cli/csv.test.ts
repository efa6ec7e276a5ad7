// The CSV reader of `smsq send --csv`: RFC 4180 quoting, line ends, BOM, line numbers, and the
// same records whatever the chunking of the input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CsvParser, csvField, parseCsv, readCsv, type CsvRecord } from "../../src/cli/csv.js";

const fields = (text: string) => parseCsv(text).map((r) => r.fields);

/** Parses `text` fed in pieces cut at the given positions. */
function parseChunked(text: string, cuts: number[]): CsvRecord[] {
  const p = new CsvParser();
  const out: CsvRecord[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(...p.push(text.slice(at, c)));
    at = c;
  }
  out.push(...p.push(text.slice(at)), ...p.end());
  return out;
}

describe("CSV reader", () => {
  it("reads plain fields, empty fields and a last line without a line end", () => {
    expect(fields("to,body\n+1415,hi\n,\na,,c")).toEqual([
      ["to", "body"],
      ["+1415", "hi"],
      ["", ""],
      ["a", "", "c"],
    ]);
  });

  it("reads quoted fields holding commas, doubled quotes and line breaks", () => {
    expect(fields('a,"b, c","say ""hi""","two\nlines",""\n')).toEqual([
      ["a", "b, c", 'say "hi"', "two\nlines", ""],
    ]);
  });

  it("takes CRLF, LF and CR as line ends, keeps CRLF inside quotes, and drops a BOM", () => {
    expect(fields('\uFEFFto,body\r\n1,"x\r\ny"\r\n2,z\r3,w\n')).toEqual([
      ["to", "body"],
      ["1", "x\r\ny"],
      ["2", "z"],
      ["3", "w"],
    ]);
    // A BOM further on is text.
    expect(fields("a\n\uFEFFb")).toEqual([["a"], ["\uFEFFb"]]);
  });

  it("numbers records by the line they start on, counting quoted line breaks once each", () => {
    const recs = parseCsv('h1,h2\n1,"a\r\nb\nc"\n\n2,x\r\n3,"\r"\n4,y');
    expect(recs.map((r) => [r.line, r.fields[0]])).toEqual([
      [1, "h1"],
      [2, "1"],
      [6, "2"],
      [7, "3"],
      [9, "4"],
    ]);
  });

  it("skips blank lines but keeps a line of empty fields", () => {
    expect(parseCsv("a,b\n\n\r\n,\n").map((r) => [r.line, r.fields])).toEqual([
      [1, ["a", "b"]],
      [4, ["", ""]],
    ]);
  });

  it("keeps a quote inside an unquoted field as text", () => {
    expect(fields('5" screen,it\'s "fine"\n')).toEqual([['5" screen', 'it\'s "fine"']]);
  });

  it("marks a record with text after a closing quote, and goes on with the next", () => {
    const recs = parseCsv('a,"b"c,d\ne,f\n');
    expect(recs[0]).toMatchObject({ line: 1, fields: ["a", "bc", "d"] });
    expect(recs[0]?.error).toMatch(/after the closing quote of field 2/);
    expect(recs[1]).toEqual({ line: 2, fields: ["e", "f"] });
  });

  it("marks a quoted field left open at the end, naming the line it opened on", () => {
    const recs = parseCsv('a,b\n1,2\n3,"never\nclosed,4\n5,6\n');
    expect(recs).toHaveLength(3);
    expect(recs[2]).toMatchObject({ line: 3, fields: ["3", "never\nclosed,4\n5,6\n"] });
    expect(recs[2]?.error).toBe("the quoted field opened on line 3 is not closed");
    expect(recs[2]?.unclosed).toBe(true);
    expect(recs[0]?.unclosed).toBeUndefined();
  });

  it("gives the same records however the input is cut into chunks", () => {
    const text = '\uFEFFto,body\r\n"a,""b""","x\r\ny"\r\n\r\nc,d\re,"f""\n"\n';
    const whole = parseCsv(text);
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        expect(parseChunked(text, [i, j]), `cuts ${i},${j}`).toEqual(whole);
      }
    }
    // One character at a time.
    expect(
      parseChunked(
        text,
        [...text].map((_, i) => i),
      ),
    ).toEqual(whole);
  });

  it("reads back what csvField writes, whatever the text (property)", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 12 });
    const cell = fc.oneof(text, fc.constantFrom(",", '"', "\n", "\r\n", "\r", " x ", '""'));
    const row = fc.array(cell, { minLength: 2, maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 8 }),
        fc.constantFrom("\n", "\r\n"),
        fc.array(fc.nat(), { maxLength: 3 }),
        (rows, eol, cuts) => {
          const text = rows.map((r) => r.map(csvField).join(",")).join(eol) + eol;
          const got = parseChunked(
            text,
            cuts.map((c) => c % (text.length + 1)),
          );
          expect(got.map((r) => r.fields)).toEqual(rows);
          expect(got.every((r) => r.error === undefined)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("streams: reads 20,000 records from many chunks in well under a second", async () => {
    const line = '+14155550100,"Your appointment, tomorrow at 9:00 ""Dr. Who""",,"{""k"":1}"\r\n';
    const text = "to,body,sendAt,metadata\r\n" + line.repeat(20_000);
    async function* chunks() {
      for (let i = 0; i < text.length; i += 4096) yield text.slice(i, i + 4096);
    }
    const t0 = performance.now();
    let n = 0;
    let last: CsvRecord | undefined;
    for await (const r of readCsv(chunks())) {
      n++;
      last = r;
    }
    expect(n).toBe(20_001);
    expect(last).toEqual({
      line: 20_001,
      fields: ["+14155550100", 'Your appointment, tomorrow at 9:00 "Dr. Who"', "", '{"k":1}'],
    });
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
