import { localTimes } from '../../client/times.ts';

// Every audit page: times written in UTC by the server read in the reader's own zone, UTC on hover.
localTimes();
