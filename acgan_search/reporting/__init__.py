"""Reading stored search results, ranking trials, writing reports and exporting bundles.

Nothing here starts or connects to Ray: results are read from the files a search leaves in
its experiment directory.
"""

from acgan_search.reporting.ranking import Objective, RankingRule, pareto_front, rank_trials
from acgan_search.reporting.results import SearchResults, load_search_results

__all__ = ["Objective", "RankingRule", "SearchResults", "load_search_results", "pareto_front", "rank_trials"]
