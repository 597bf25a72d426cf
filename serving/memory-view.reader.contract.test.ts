/** The in-memory test reader against the read contract's shared suite: exact, refuses nothing. */
import { viewReaderContract } from '../core/views.contract.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

viewReaderContract('memory reader', async ({ events, sites, from, to }) => new MemoryViewReader({ source: 'batch', events, coverage: Object.fromEntries(sites.map((s) => [s, { from, to }])) }));
