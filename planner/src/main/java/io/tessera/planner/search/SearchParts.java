package io.tessera.planner.search;

import io.tessera.planner.plan.RedistributionCache;

/**
 * The parts of one strategy search, made once per search and shared by its modes: the setup, the operators' candidate
 * signatures, the pricing of fusion buckets, the redistribution costs and the evaluation of complete plans (the last
 * two share one {@link RedistributionCache}).
 *
 * @param setup           what is searched
 * @param signatures      the operators' candidates with their own costs
 * @param fusion          the fusion-bucket keys and their pricing
 * @param redistributions the redistribution seconds and edge tables
 * @param plans           configurations of assignments and their exact objective
 */
record SearchParts(SearchSetup setup, Signatures signatures, FusionPricing fusion,
                   RedistributionCosts redistributions, PlanEvaluation plans) {

    /** Validates that every part is present. */
    SearchParts {
        if (setup == null || signatures == null || fusion == null || redistributions == null || plans == null) {
            throw new IllegalArgumentException("search parts: setup, signatures, fusion pricing, redistribution costs"
                    + " and plan evaluation are required; found " + (setup == null ? "no setup" : signatures == null
                    ? "no signatures" : fusion == null ? "no fusion pricing" : redistributions == null
                    ? "no redistribution costs" : "no plan evaluation") + "; make them with SearchParts.prepare");
        }
    }

    /**
     * Enumerates and costs every operator's candidates of {@code setup} (in parallel) and makes the parts around
     * them; the redistributions are not costed yet ({@link RedistributionCosts#precompute}).
     */
    static SearchParts prepare(SearchSetup setup) {
        FusionPricing fusion = new FusionPricing(setup.template(), setup.cost());
        Signatures signatures = new Signatures(setup, new OperatorCosts(setup, fusion));
        RedistributionCache shared = RedistributionCache.create();
        return new SearchParts(setup, signatures, fusion, new RedistributionCosts(setup, signatures, shared),
                new PlanEvaluation(setup, signatures, shared));
    }
}
