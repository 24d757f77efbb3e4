import { protocol, types, type PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite';

type Query = <T>(text: string, params?: unknown[], options?: QueryOptions) => Promise<Results<T>>;

/**
 * Embedded PGlite with prepared statements, as the PostgreSQL driver already has them (gateway/db.ts, `preparing`).
 * PGlite's own `query` sends every statement unnamed: parse, describe, bind, describe, execute and sync, six passes
 * through its WebAssembly, and the server parses, analyses and plans the text every time. On the gateway's thread
 * that was about 0.43 ms of parsing and 0.33 of binding (planning) for a read's 1.7 ms record, against 0.63 ms of
 * execution (bench/NOTES.md, eleventh pass). Here each text is parsed once into a named statement; later calls bind,
 * describe and execute it in one pass, and the server reuses its plan where that is cheaper (plan_cache_mode auto).
 * Parameters are serialized and rows parsed by PGlite's own serializers and parsers, as its `query` does. A text that
 * fails to parse is not kept; the server keeps a statement across transactions, so a rollback does not lose it.
 * `maxStatements`: most texts kept prepared (drizzle's shapes are a few dozen); past it, new texts run unnamed.
 * Only statements with parameters are kept, as the PostgreSQL driver does: the others are one-off texts.
 */
export function preparedPglite(client: PGlite, maxStatements = 500): PGlite {
  const { serialize } = protocol;
  const statements = new Map<string, { name: string; types: number[] }>();

  /**
   * The statement's result, as PGlite's parseResults builds it, without its copy of the whole parser table (a few
   * hundred types) for each query that brings its own parsers, as drizzle's every query does: 0.65 ms of a write.
   */
  function results<T>(messages: Awaited<ReturnType<PGlite['execProtocolStream']>>, options: QueryOptions | undefined): Results<T> {
    let fields: { name: string; dataTypeID: number }[] = [];
    const rows: unknown[] = [];
    const value = (text: string | null, type: number): unknown => {
      if (text === null) return null;
      const parser = options?.parsers?.[type] ?? client.parsers[type] ?? types.parsers[type];
      return parser ? parser(text, type) : text;
    };
    for (const message of messages) {
      if (message instanceof protocol.messages.RowDescriptionMessage) fields = message.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID }));
      else if (message instanceof protocol.messages.DataRowMessage) {
        const row = message.fields.map((text, i) => value(text, fields[i]!.dataTypeID));
        rows.push(options?.rowMode === 'array' ? row : Object.fromEntries(row.map((v, i) => [fields[i]!.name, v])));
      } else if (message instanceof protocol.messages.CommandCompleteMessage) {
        const words = message.text.split(' ');
        const command = words[0]!;
        const count = parseInt(words[words.length - 1]!, 10);
        const affectedRows = ['INSERT', 'UPDATE', 'DELETE', 'COPY', 'MERGE'].includes(command) ? count : 0;
        return { rows: rows as T[], fields, command, affectedRows, ...(Number.isNaN(count) ? {} : { rowCount: count }) } as Results<T>;
      }
    }
    return { rows: [], fields: [], affectedRows: 0 };
  }

  /**
   * Runs one statement; the caller holds PGlite's query lock. Messages sent together (Buffer.concat) go through
   * PGlite's WebAssembly in one pass, as a client's pipelined messages would.
   */
  async function run<T>(text: string, params: unknown[], options: QueryOptions | undefined): Promise<Results<T>> {
    const stream = { ...options, syncToFs: false };
    try {
      let statement = statements.get(text);
      if (!statement) {
        // A statement without parameters (DDL, a migration, SET), or past the cap: the unnamed statement, as PGlite's
        // query uses (parsed again at each call), as the PostgreSQL driver prepares only statements with parameters.
        const name = params.length > 0 && statements.size < maxStatements ? `cs${statements.size}` : '';
        const described = await client.execProtocolStream(Buffer.concat([serialize.parse({ name, text, types: options?.paramTypes }), serialize.describe({ type: 'S', name }), serialize.sync()]), stream);
        const parameterTypes = described.find((m): m is InstanceType<typeof protocol.messages.ParameterDescriptionMessage> => m.name === 'parameterDescription')?.dataTypeIDs ?? [];
        statement = { name, types: parameterTypes };
        if (name) statements.set(text, statement);
      }
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null;
        const type = statement!.types[i]!;
        const serializer = options?.serializers?.[type] ?? client.serializers[type];
        return serializer ? serializer(value) : String(value);
      });
      const messages = await client.execProtocolStream(Buffer.concat([serialize.bind({ statement: statement.name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]), stream);
      return results<T>(messages, options);
    } catch (error) {
      // As PGlite's query reports a database error: with the statement and parameters that caused it.
      if (error instanceof protocol.messages.DatabaseError) Object.assign(error, { query: text, params, queryOptions: options });
      throw error;
    }
  }

  const query: Query = async <T>(text: string, params: unknown[] = [], options?: QueryOptions) => {
    if (options?.blob) return client.query<T>(text, params, options);
    await client._checkReady();
    return client._runExclusiveTransaction(async () => {
      const result = await client._runExclusiveQuery(() => run<T>(text, params, options));
      await client.syncToFs();
      return result;
    });
  };
  const inTransaction = (tx: Transaction): Transaction => {
    const txQuery: Query = async <T>(text: string, params: unknown[] = [], options?: QueryOptions) => {
      if (tx.closed) throw new Error('Transaction is closed');
      if (options?.blob) return tx.query<T>(text, params, options);
      return client._runExclusiveQuery(() => run<T>(text, params, options));
    };
    return new Proxy(tx, { get: (target, prop, receiver) => (prop === 'query' ? txQuery : Reflect.get(target, prop, receiver)) });
  };
  const transaction = <T>(body: (tx: Transaction) => Promise<T>) => client.transaction((tx) => body(inTransaction(tx)));
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'query') return query;
      if (prop === 'transaction') return transaction;
      const value: unknown = Reflect.get(target, prop, target);
      // PGlite keeps its state in private fields: its methods must run on the instance itself, not on this proxy.
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
